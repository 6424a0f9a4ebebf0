//! Model checking: the asynchronous-network run loop, fault budgets, state
//! fingerprints and the properties checked after every step.
//!
//! In model-checking mode ([`Explorer::model_checking`]) a simulation no
//! longer follows the clock from event to event. After every step (all
//! ready tasks polled) it takes stock:
//!
//! 1. **properties**: every [`invariant`] must hold (a panic anywhere is a
//!    violation too); a [`goal`] that holds ends the path successfully; a
//!    [`prune`] that holds ends it silently;
//! 2. **fingerprint**: the state — every process's `state()`, its local
//!    outbox and named timers, every value reported with [`state`], the
//!    multiset of packets in flight (ends and payload), pending timers
//!    relative to now, crashed nodes — is hashed; a fingerprint seen
//!    before with at least as many of every fault left to spend ends the
//!    path (see *Visited states* below);
//! 3. **enabled events**: every packet in flight (regardless of its sampled
//!    latency; of identical packets only the oldest, so duplicates do not
//!    branch symmetrically) and, per task, its earliest timer; the choice
//!    source picks one ([`Ordering::MessagesFirst`] offers packets alone
//!    while any is in flight). A delivery leaves the clock alone; a timer
//!    moves it to the timer's deadline (if later), so every sleep still
//!    measures its own duration.
//!
//! Faults are choices too: a send over a link with a non-zero loss,
//! duplication or corruption probability branches on the fault while its
//! budget ([`Explorer::max_drops`] …) lasts; a duplicated datagram may
//! arrive twice or three times, as in AnySystem's model checker. With
//! [`Explorer::max_crashes`] the checker may also crash any node that runs
//! something at any step boundary, and with [`Explorer::max_restarts`]
//! restart a crashed one (its `host` software boots again and processes
//! added with `Simulation::add_process_factory` come back fresh): these
//! are offered after every pending event, within their budgets.
//!
//! **Visited states.** A visit is pruned when an earlier visit of the same
//! fingerprint had at least as many of every fault budget left (drops,
//! duplicates, corruptions, crashes, restarts) and at least as many steps
//! left before the depth bound, since that one could choose every fault
//! this one can, as long. A visit with more of either left goes on, so a
//! state first reached after spending a drop is explored again when
//! reached with the drop unspent, and a state first reached deep again
//! when reached nearer the root: a depth-first search within a bound sees
//! every state a breadth-first one does.
//!
//! **What pruning assumes.** Two points with the same fingerprint must
//! behave the same from there on, given the same faults. bach sees processes, packets, timers and
//! crashes; state held by async tasks (locals across an `.await`, an
//! `Rc<RefCell<..>>`) is invisible unless reported with [`state`]. So by
//! default ([`Visited::Auto`]) fingerprints prune only where they cover
//! everything: where every live task is a process task, or where the body
//! reports its state with [`state`] (report every value that influences
//! future behaviour). Elsewhere paths are not pruned, and the report says
//! at how many states. [`Visited::Fingerprints`] prunes there too, and the
//! report warns that it may have cut paths that differ (missing bugs,
//! never inventing a violation); [`Visited::Off`] never prunes.
//!
//! [`Explorer::model_checking`]: super::Explorer::model_checking
//! [`Explorer::max_drops`]: super::Explorer::max_drops
//! [`Explorer::max_crashes`]: super::Explorer::max_crashes
//! [`Explorer::max_restarts`]: super::Explorer::max_restarts

use super::fingerprint::FingerprintHasher;
use crate::{
    net::choices::BudgetCounts,
    runtime::{context, Inner},
    time::timers::TimerKey,
};
use std::{
    cell::{Cell, RefCell},
    hash::{Hash, Hasher},
};

/// Which events a model-checking step may pick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ordering {
    /// Any packet in flight or any task's earliest timer.
    #[default]
    Normal,
    /// Packets first: timers are offered only when nothing is in flight.
    MessagesFirst,
}

/// Whether visited states prune the search. A state counts as visited
/// when its fingerprint was reached before with at least as many of every
/// fault budget left (drops, duplicates, corruptions, crashes, restarts):
/// a visit with more of any fault left to spend is explored again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visited {
    /// Fingerprints prune wherever they cover the whole state: at a step
    /// boundary where every live task is a process task (whose state is
    /// the process's `state()`), or where the body reported its state with
    /// [`state`]. Elsewhere — async tasks whose locals and collections the
    /// fingerprint cannot see — the path goes on, and the report says at
    /// how many states pruning was off.
    #[default]
    Auto,
    /// A path that reaches a fingerprint seen before stops there, even
    /// where async tasks hold state the fingerprint does not cover: faster,
    /// and the report warns that the search may have cut paths that
    /// differ.
    Fingerprints,
    /// Every path runs to its end (or the depth limit).
    Off,
}

/// Whether a fingerprint covers the whole state of the simulation: every
/// live task is a process task, or the body reports state with [`state`]
/// (it then takes the responsibility to report everything that matters).
pub(crate) fn state_covered(inner: &Inner) -> bool {
    if inner.properties.borrow().reports_state() {
        return true;
    }
    // Both counts are kept as tasks and processes come and go: no scan.
    inner.executor.live_tasks() == crate::process::engine::live_process_tasks(inner)
}

pub(crate) use crate::kernel::properties::{evaluate, Verdict};

mod path;
pub(crate) use path::PathEnd;
mod visited;
pub(crate) use visited::VisitedStates;

/// Registers an invariant of the current simulation: `holds` must return
/// `true` after every step, however the simulation runs — `run`, `step`,
/// `run_for`, sweeps, the interleaving explorer, bolero, model checking.
/// The run fails at the first step after which it does not, naming it,
/// the simulated time and how to reproduce the run (a panic anywhere is a
/// violation anyway). Free while no invariant is registered. Panics
/// outside a simulation.
///
/// ```should_panic
/// use bach::{check, ext::*};
/// use std::{cell::Cell, rc::Rc};
///
/// bach::sim(|| {
///     let balance = Rc::new(Cell::new(10i64));
///     let seen = balance.clone();
///     check::invariant("never overdrawn", move || seen.get() >= 0);
///     async move {
///         for _ in 0..3 {
///             1.s().sleep().await;
///             balance.set(balance.get() - 4); // overdrawn at 3 s
///         }
///     }
///     .primary()
///     .spawn();
/// });
/// ```
#[track_caller]
pub fn invariant(name: &str, holds: impl Fn() -> bool + 'static) {
    context::with("bach::check::invariant", |inner| {
        inner.add_invariant(name, holds)
    })
}

/// Registers a goal: a path on which `reached` becomes `true` ends there,
/// successfully. When goals are registered, a path that runs out of events
/// without reaching any is a liveness violation ("nothing left to do"), and
/// so is a run by the clock ([`Simulation::run`](crate::Simulation::run),
/// sweeps, the interleaving explorer) that ends without reaching any.
#[track_caller]
pub fn goal(name: &str, reached: impl Fn() -> bool + 'static) {
    context::with("bach::check::goal", |inner| {
        inner.properties.borrow_mut().add_goal(name, reached)
    })
}

/// Registers a prune: a path on which `cut` becomes `true` ends there
/// without a verdict (a part of the state space not worth exploring).
#[track_caller]
pub fn prune(cut: impl Fn() -> bool + 'static) {
    context::with("bach::check::prune", |inner| {
        inner.properties.borrow_mut().add_prune(cut)
    })
}

/// Reports a piece of state under `name` for fingerprints (the latest
/// value per name counts): call it whenever the value changes, from tasks
/// or test code. Needed for sound pruning of async code whose state lives
/// in tasks; see the [module docs](super) of `check`.
#[track_caller]
pub fn state(name: &str, value: &impl Hash) {
    let hash = super::fingerprint::hash_one(value);
    context::with("bach::check::state", |inner| {
        inner.properties.borrow_mut().report_state(name, hash)
    })
}

/// Per-execution model-checking switches, set on the simulation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mode {
    pub(crate) ordering: Ordering,
}

/// Per step boundary of a path: its depth, whether its state was examined
/// (not a replay) and, when fingerprints are on, the fingerprint and the
/// fault budgets left.
pub(crate) type BoundaryLog = Vec<(u32, bool, Option<(u64, visited::Left)>)>;

/// Saves a checkpoint of the simulation at a step boundary of this depth.
pub(crate) type SaveCheckpoint<'a> = dyn Fn(&crate::runtime::Inner, u32) + 'a;

/// What the model-checking loop needs for one path, and what it counts.
pub(crate) struct PathRun<'a> {
    pub(crate) mode: Mode,
    pub(crate) max_depth: Option<u32>,
    pub(crate) visited: Option<&'a RefCell<VisitedStates>>,
    pub(crate) scheduler: Option<&'a RefCell<dyn super::Scheduler>>,
    /// Examined step boundaries (not replays): fingerprinted, or ended by
    /// a goal or a prune.
    pub(crate) states: Cell<u64>,
    /// [`Visited::Fingerprints`]: prune where fingerprints do not cover
    /// the state too.
    pub(crate) force: bool,
    /// Examined states whose fingerprint did not cover async tasks' state
    /// (not pruned unless `force`).
    pub(crate) uncovered: Cell<u64>,
    pub(crate) max_depth_seen: Cell<u32>,
    /// Ends (and collects) paths on which it holds.
    pub(crate) collect: Option<&'a dyn Fn() -> bool>,
    /// Applied once, at the step boundary after this many events.
    pub(crate) stimulus: Option<(u32, &'a dyn Fn())>,
    /// Parallel search: the states visited before this path's level,
    /// checked but not updated.
    pub(crate) snapshot: Option<&'a VisitedStates>,
    /// Parallel search: every step boundary's depth and (when examined)
    /// fingerprint, for the deterministic merge.
    pub(crate) log: Option<&'a RefCell<BoundaryLog>>,
    /// The path continues a restored checkpoint, saved at this depth: it
    /// starts with the choice of the next event.
    pub(crate) resume: Option<u32>,
    /// Called at every step boundary the path continues from (before the
    /// next event is chosen), with the depth, to save a checkpoint.
    pub(crate) checkpoint: Option<&'a SaveCheckpoint<'a>>,
}

impl PathRun<'_> {
    /// Counts a state examined at a step boundary where a goal or a prune
    /// ends the path (checked before any fingerprint): it was reached and
    /// its properties evaluated, like any other examined state. Not when
    /// replaying a prefix, nor where a breadth-first node stops (its child
    /// reaches the same boundary and counts it).
    pub(crate) fn examined_end(&self, replaying: bool) {
        if replaying || self.scheduler.is_some_and(|s| s.borrow().stop()) {
            return;
        }
        self.states.set(self.states.get() + 1);
        if let Some(log) = self.log {
            if let Some(last) = log.borrow_mut().last_mut() {
                last.1 = true;
            }
        }
    }

    /// Replaying one path: no pruning, no depth limit.
    pub(crate) fn replay(mode: Mode) -> PathRun<'static> {
        PathRun {
            mode,
            max_depth: None,
            visited: None,
            scheduler: None,
            states: Cell::new(0),
            force: false,
            uncovered: Cell::new(0),
            max_depth_seen: Cell::new(0),
            collect: None,
            stimulus: None,
            snapshot: None,
            log: None,
            resume: None,
            checkpoint: None,
        }
    }
}

/// The fault budgets left at a step boundary (all zero outside model
/// checking), which [`VisitedStates`] compares beside the fingerprint.
pub(crate) fn budgets_left(inner: &Inner) -> BudgetCounts {
    use crate::net::state::NetWorld as _;
    inner
        .fault_budgets()
        .map_or([0; 5], |budgets| budgets.save())
}

/// The fingerprint of the simulation's state at a step boundary. The fault
/// budgets left are not part of it: [`VisitedStates`] compares them.
pub(crate) fn fingerprint(inner: &Inner, scratch: &mut Scratch) -> u64 {
    let mut hasher = FingerprintHasher::default();
    let now = inner.now();
    inner.properties.borrow().hash_states(&mut hasher);
    crate::process::engine::hash_processes(inner, now, &mut hasher);
    let timers = inner.timers.borrow();
    timers.pending_entries_into(&mut scratch.pending);
    crate::net::state::hash_network(
        inner,
        &timers,
        &scratch.pending,
        &mut scratch.hashes,
        &mut hasher,
    );
    // Timers of tasks, relative to now, as a multiset.
    let task_timers = &mut scratch.task_timers;
    task_timers.clear();
    task_timers.extend(scratch.pending.iter().filter_map(|&(key, deadline)| {
        match timers.value(key)? {
            crate::runtime::TimerEvent::Wake(waker) => {
                let task = crate::executor::waker::task_of(waker, inner.sim_id)
                    .map(|index| inner.executor.task_id(index).as_u64())
                    .unwrap_or(u64::MAX);
                Some((task, deadline.saturating_sub(now)))
            }
            crate::runtime::TimerEvent::Deliver(_) => None,
        }
    }));
    task_timers.sort_unstable();
    task_timers.hash(&mut hasher);
    // Every disk: what it holds, durable or not.
    inner.disks.borrow().hash_into(&mut hasher);
    hasher.finish()
}

/// One enabled event at a step boundary.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Enabled {
    pub(crate) key: TimerKey,
    pub(crate) deadline: u64,
    pub(crate) delivery: bool,
    /// Not a pending event but a fault the checker may inject: crash the
    /// node (`false`) or restart it (`true`); `key` and `deadline` unused.
    pub(crate) node: Option<(crate::group::table::GroupId, bool)>,
}

/// Buffers [`enabled`] and [`fingerprint`] reuse from step to step of
/// one path.
#[derive(Default)]
pub(crate) struct Scratch {
    pending: Vec<(TimerKey, u64)>,
    /// Task timers (task id, time left) for fingerprints.
    task_timers: Vec<(u64, u64)>,
    /// Content hashes of the packets in flight, for fingerprints.
    hashes: Vec<u64>,
    owners: Vec<usize>,
    /// Offered deliveries: content hash, send order, event.
    deliveries: Vec<(u64, (u64, u32), Enabled)>,
    timers: Vec<Enabled>,
}

/// A path's fingerprint scratch space and enabled-event list.
type PathBuffers = Box<(Scratch, Vec<Enabled>)>;

thread_local! {
    /// The buffers of the last path run on this thread.
    static BUFFERS: std::cell::Cell<Option<PathBuffers>> = const { std::cell::Cell::new(None) };
}

/// A path's fingerprint and enabled-event buffers, borrowed from the
/// thread for the path and given back when dropped (each path would
/// otherwise allocate and free them).
pub(crate) struct Buffers(Option<PathBuffers>);

impl Buffers {
    pub(crate) fn take() -> Self {
        Self(Some(
            BUFFERS
                .try_with(|buffers| buffers.take())
                .ok()
                .flatten()
                .unwrap_or_default(),
        ))
    }

    pub(crate) fn parts(&mut self) -> (&mut Scratch, &mut Vec<Enabled>) {
        let buffers = self.0.as_mut().expect("buffers are held until dropped");
        (&mut buffers.0, &mut buffers.1)
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        let buffers = self.0.take();
        let _ = BUFFERS.try_with(|slot| slot.set(buffers));
    }
}

/// The events a step may fire, in a deterministic order, into `all`
/// (cleared first).
pub(crate) fn enabled(inner: &Inner, mode: Mode, scratch: &mut Scratch, all: &mut Vec<Enabled>) {
    let Scratch {
        pending,
        owners,
        deliveries,
        timers: events,
        ..
    } = scratch;
    owners.clear();
    deliveries.clear();
    events.clear();
    all.clear();
    let timers = inner.timers.borrow();
    timers.pending_entries_into(pending);
    for &(key, deadline) in pending.iter() {
        match timers.value(key) {
            Some(crate::runtime::TimerEvent::Wake(waker)) => {
                // Each task's earliest timer only (entries come in deadline
                // order, then insertion key).
                let owner =
                    crate::executor::waker::task_of(waker, inner.sim_id).unwrap_or(usize::MAX);
                if owner != usize::MAX && owners.contains(&owner) {
                    continue;
                }
                owners.push(owner);
                events.push(Enabled {
                    key,
                    deadline,
                    delivery: false,
                    node: None,
                });
            }
            Some(crate::runtime::TimerEvent::Deliver(packet)) => {
                let content = crate::net::state::packet_hash(inner, *packet);
                // Identical packets: only the one sent first is offered.
                let sent = crate::net::state::packet_order(inner, *packet);
                let event = Enabled {
                    key,
                    deadline,
                    delivery: true,
                    node: None,
                };
                match deliveries.iter_mut().find(|(hash, _, _)| *hash == content) {
                    Some((_, existing_sent, existing)) => {
                        if sent < *existing_sent {
                            *existing_sent = sent;
                            *existing = event;
                        }
                    }
                    None => deliveries.push((content, sent, event)),
                }
            }
            None => {}
        }
    }
    all.extend(deliveries.iter().map(|&(_, _, event)| event));
    if mode.ordering == Ordering::Normal || all.is_empty() {
        all.extend(events.iter().copied());
    }
    all.sort_unstable_by_key(|e| (e.deadline, e.key));
    drop(timers);
    node_faults(inner, all);
}

/// Appends the node faults the budgets still allow: crashing any node that
/// is up and runs something, restarting any crashed node (in node order,
/// after every pending event).
fn node_faults(inner: &Inner, all: &mut Vec<Enabled>) {
    use crate::net::state::NetWorld as _;
    let Some(budgets) = inner.fault_budgets() else {
        return;
    };
    let (crashes, restarts) = (budgets.crashes.get() > 0, budgets.restarts.get() > 0);
    if !crashes && !restarts {
        return;
    }
    let groups = inner.groups.borrow().len();
    let running = inner.executor.groups_with_tasks();
    let nodes = inner.nodes.borrow();
    for index in 1..groups {
        let group = crate::group::table::GroupId(index as u32);
        let fault = if nodes.is_crashed(group) {
            restarts.then_some(true)
        } else {
            (crashes && running.contains(&group)).then_some(false)
        };
        if let Some(restart) = fault {
            all.push(Enabled {
                key: TimerKey::UNUSED,
                deadline: 0,
                delivery: false,
                node: Some((group, restart)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        ext::*,
        process::{Context, Message, Process},
        Simulation,
    };

    struct Idle;

    impl Process for Idle {
        fn on_message(&mut self, _: Message, _: &str, _: &mut Context) {}
    }

    /// Live tasks, live processes and whether fingerprints cover the state.
    fn counts(sim: &Simulation) -> (usize, usize, bool) {
        (
            sim.live_tasks(),
            crate::process::engine::live_process_tasks(&*sim.inner),
            super::state_covered(&sim.inner),
        )
    }

    /// `state_covered` compares two counts kept as tasks and processes
    /// come and go (each asserted against a scan of its slots in debug
    /// builds, where this test runs).
    #[test]
    fn state_covered_follows_tasks_and_processes() {
        let mut sim = Simulation::new();
        sim.add_process("p", "n1", Idle);
        sim.add_process_factory("q", "n2", || Idle);
        assert_eq!(counts(&sim), (2, 2, true));
        // An async task, whose state fingerprints cannot see; its join
        // handle keeps its slot after it finishes.
        let sleeper = sim.enter(|| async { 1.s().sleep().await }.spawn());
        assert_eq!(counts(&sim), (3, 2, false));
        sim.run_until_idle();
        assert_eq!(counts(&sim), (2, 2, true));
        drop(sleeper);
        // A crash ends the process and its task; a restart brings the
        // factory's process back.
        sim.crash_node("n2");
        assert_eq!(counts(&sim), (1, 1, true));
        sim.recover_node("n2");
        assert_eq!(counts(&sim), (2, 2, true));
        // A node crashed by a task running on it.
        sim.enter(|| async { crate::node::crash("n1") }.group("n1").spawn());
        sim.run_until_idle();
        assert_eq!(counts(&sim), (1, 1, true));
    }
}
