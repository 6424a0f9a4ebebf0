//! Interleaving exploration inside one simulation: scheduling points,
//! footprints and the partial-order reduction that decides which ready tasks
//! are worth permuting.
//!
//! With [`Simulation::interleavings`](crate::Simulation::interleavings) on,
//! the run loop no longer polls ready tasks strictly first-in first-out.
//! Each ready task has a *footprint*: the shared resources (sync primitives,
//! queues, socket endpoints) its next poll is predicted to touch:
//!
//! * every async operation on a primitive (`lock`, `send`, `recv`,
//!   `acquire`, `notified`, a socket's `send_to`/`recv_from`, …) is a
//!   **scheduling point**: its first poll does not act but *declares* the
//!   resource and yields, so the task waits in the ready queue with an exact
//!   footprint; the operation takes effect when the task is picked;
//! * a task woken by a primitive (it was waiting in a [`WaitQueue`]) will
//!   touch that primitive;
//! * a task's previous poll predicts its next one: what it touched
//!   (including synchronous operations such as `try_send`, an unlock when a
//!   guard drops, `notify_one`) is added to its footprint.
//!
//! When the run loop picks the next task it takes the connected group of
//! the *oldest* ready task (tasks linked through shared resources, found
//! with a small union over footprints) and lets the choice source pick
//! within that group ([`ChoiceSource::schedule`]). Tasks outside the group
//! touch disjoint resources, so their order relative to the group does not
//! matter and is never a choice; a task with an empty footprint (freshly
//! spawned, or woken by a timer without a history of shared accesses) runs
//! in FIFO order. With reduction off every ready set is one group, which is
//! what the tests compare against.
//!
//! Limits, documented for users in `bach::check`: a resource that bach does
//! not know about (an `Rc<RefCell<..>>` shared between tasks) is invisible;
//! and a synchronous operation on a resource the task never touched before
//! is only seen after the fact. Both can hide an interleaving, never add a
//! wrong one.
//!
//! [`WaitQueue`]: crate::sync::wait
//! [`ChoiceSource::schedule`]: crate::rand::source::ChoiceSource::schedule

use super::Kernel;
use crate::{check::strategy::StepObserver, executor::waker, trace::recorder::RawKind};
use std::{
    cell::{Cell, RefCell},
    net::{IpAddr, SocketAddr},
    rc::Rc,
    task::{Context, Poll, Waker},
};

/// Identity of one primitive instance (a mutex, a channel, a queue): a small
/// number, dense and in creation order within each simulation, so the same
/// program creates the same ids on every run and an explorer can match
/// resources across re-executions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ResourceId(u32);

/// Set in ids created inside a simulation that explores interleavings, so
/// operations know with one bit test whether to report to the explorer.
const EXPLORED: u32 = 1 << 31;

impl ResourceId {
    /// The resource numbered `number` in its simulation; `explored`: its
    /// operations are scheduling points.
    #[inline]
    pub(crate) fn new(number: u32, explored: bool) -> ResourceId {
        ResourceId(number & !EXPLORED | if explored { EXPLORED } else { 0 })
    }

    /// The number the resource created after `number` gets.
    #[inline]
    pub(crate) fn number_after(number: u32) -> u32 {
        number.wrapping_add(1) & !EXPLORED
    }

    /// The dense number of this resource within its simulation.
    #[inline]
    pub(crate) fn index(self) -> u32 {
        self.0 & !EXPLORED
    }

    /// Whether operations on this resource are scheduling points (it was
    /// created in a simulation exploring interleavings).
    #[inline]
    pub(crate) fn explored(self) -> bool {
        self.0 & EXPLORED != 0
    }
}

pub(crate) use crate::check::footprint::{Footprint, Key};

const ENDPOINT: u64 = 1 << 63;

/// The key of a primitive.
#[inline]
pub(crate) fn primitive(resource: ResourceId) -> Key {
    u64::from(resource.index())
}

/// Set in the key of a primitive's side resource ([`side`]).
const SIDE: u64 = 1 << 62;

/// The key of `resource`'s side resource: a part of its state that most of
/// its operations leave alone (a channel's count of senders, a `Notify`'s
/// count of `notify_waiters` calls), a resource of its own so that touching
/// it does not conflict with the primitive's data.
#[inline]
pub(crate) fn side(resource: ResourceId) -> Key {
    SIDE | u64::from(resource.index())
}

/// Set, with [`ENDPOINT`], in the key of a node's arrivals ([`arrivals`]).
const ARRIVALS: u64 = 1 << 62;

/// FNV-1a over `bytes`: fixed and platform independent.
fn hash(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn ip_bytes(ip: IpAddr) -> impl Iterator<Item = u8> {
    let (v4, v6) = match ip {
        IpAddr::V4(ip) => (Some(ip.octets()), None),
        IpAddr::V6(ip) => (None, Some(ip.octets())),
    };
    v4.into_iter().flatten().chain(v6.into_iter().flatten())
}

/// The key of a socket endpoint: what receiving on the socket touches.
/// Distinct addresses may share a key (a 62-bit hash); that only makes the
/// reduction more conservative.
pub(crate) fn endpoint(addr: SocketAddr) -> Key {
    ENDPOINT | hash(ip_bytes(addr.ip()).chain(addr.port().to_be_bytes())) >> 2
}

/// The key of the datagrams on their way to the node at `ip`: what a send
/// to that node touches. Sends to one node over one link queue behind each
/// other, and those that arrive at the same instant arrive in the order
/// they were sent, so two sends to the same node do not commute. A send
/// never touches the receiving socket itself: its datagram reaches the
/// socket from the timer queue, never during a task's step, so it
/// commutes with receives at the instant it is sent (the receive its
/// arrival wakes touches the socket then). Distinct nodes may share a key
/// (a 62-bit hash).
pub(crate) fn arrivals(ip: IpAddr) -> Key {
    ENDPOINT | ARRIVALS | hash(ip_bytes(ip)) >> 2
}

/// Per-task footprints, by executor slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// Declared at a scheduling point, or predicted by a wake from a
    /// primitive: the next poll is granted these.
    declared: Footprint,
    /// Everything the task's previous poll touched.
    touched: Footprint,
}

/// The exploration state of one simulation.
#[derive(Default)]
pub(crate) struct Interleave {
    enabled: Cell<bool>,
    no_reduction: Cell<bool>,
    tables: RefCell<Tables>,
    /// A dependency-aware search told about every step (the explorer's
    /// depth-first search with dynamic partial-order reduction).
    observer: RefCell<Option<Rc<RefCell<dyn StepObserver>>>>,
}

#[derive(Default)]
struct Tables {
    slots: Vec<Slot>,
    /// The task being polled, its granted footprint and what it touched.
    current: Option<usize>,
    granted: Footprint,
    touching: Footprint,
    /// Scratch for group computation.
    group: Vec<usize>,
    group_ids: Vec<crate::executor::TaskId>,
}

/// Every task's footprints, saved by [`Interleave::save`].
pub(crate) struct SavedInterleave(Vec<Slot>);

impl Interleave {
    /// The tasks' footprints between polls (model-checking checkpoints).
    pub(crate) fn save(&self) -> SavedInterleave {
        SavedInterleave(self.tables.borrow().slots.clone())
    }

    /// Puts the footprints back as [`Interleave::save`] found them.
    pub(crate) fn restore(&self, saved: &SavedInterleave) {
        let mut tables = self.tables.borrow_mut();
        tables.slots.clone_from(&saved.0);
        tables.current = None;
        tables.granted = Footprint::EMPTY;
        tables.touching = Footprint::EMPTY;
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.get()
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.set(on);
    }

    pub(crate) fn set_reduction(&self, on: bool) {
        self.no_reduction.set(!on);
    }

    pub(crate) fn reduction(&self) -> bool {
        !self.no_reduction.get()
    }

    /// Tells `observer` about every step from now on.
    pub(crate) fn set_observer(&self, observer: Rc<RefCell<dyn StepObserver>>) {
        *self.observer.borrow_mut() = Some(observer);
    }

    /// Called before task `index` is polled. Stops the run (as redundant)
    /// if the observer says no new schedule can be reached from here.
    pub(crate) fn begin_poll(&self, kernel: &Kernel, index: usize) {
        {
            let mut tables = self.tables.borrow_mut();
            let tables = &mut *tables;
            if tables.slots.len() <= index {
                tables.slots.resize(index + 1, Slot::default());
            }
            let slot = &mut tables.slots[index];
            tables.granted = std::mem::take(&mut slot.declared);
            tables.touching = Footprint::EMPTY;
            tables.current = Some(index);
        }
        if let Some(observer) = &*self.observer.borrow() {
            let task = kernel.executor.task_id(index);
            let next_task = kernel.executor.next_task_id();
            if !observer.borrow_mut().polling(task, kernel.now(), next_task) {
                kernel.abandon();
            }
        }
    }

    /// Called after task `index` was polled; `finished` if it completed.
    pub(crate) fn end_poll(&self, kernel: &Kernel, index: usize, finished: bool) {
        let touched = {
            let mut tables = self.tables.borrow_mut();
            let tables = &mut *tables;
            let touched = std::mem::take(&mut tables.touching);
            tables.current = None;
            tables.granted = Footprint::EMPTY;
            if let Some(slot) = tables.slots.get_mut(index) {
                if finished {
                    *slot = Slot::default();
                } else {
                    slot.touched = touched;
                }
            }
            touched
        };
        if let Some(observer) = &*self.observer.borrow() {
            let task = kernel.executor.task_id(index);
            let next_task = kernel.executor.next_task_id();
            observer.borrow_mut().polled(task, &touched, next_task);
        }
    }

    /// Forgets a task whose slot is freed without a poll (cancelled).
    pub(crate) fn forget(&self, index: usize) {
        if let Some(slot) = self.tables.borrow_mut().slots.get_mut(index) {
            *slot = Slot::default();
        }
    }

    fn footprint(tables: &Tables, index: usize) -> Footprint {
        match tables.slots.get(index) {
            Some(slot) => {
                let mut footprint = slot.declared;
                footprint.union(&slot.touched);
                footprint
            }
            None => Footprint::EMPTY,
        }
    }

    /// Picks which entry of `ready` (slot indices in FIFO order, at least
    /// two) to poll next: the oldest task's connected group, and within
    /// it the choice source's pick. Returns a position in `ready`.
    pub(crate) fn pick(&self, kernel: &Kernel, ready: &[usize]) -> usize {
        let mut tables = self.tables.borrow_mut();
        let tables = &mut *tables;
        let mut group = std::mem::take(&mut tables.group);
        group.clear();
        group.push(0);
        if self.reduction() {
            let mut keys = Self::footprint(tables, ready[0]);
            if !keys.is_empty() {
                let mut taken = vec![false; ready.len()];
                taken[0] = true;
                // Grow the group until no other ready task touches its keys.
                let mut grew = true;
                while grew {
                    grew = false;
                    for (position, &index) in ready.iter().enumerate() {
                        if taken[position] {
                            continue;
                        }
                        let footprint = Self::footprint(tables, index);
                        if footprint.intersects(&keys) {
                            taken[position] = true;
                            keys.union(&footprint);
                            group.push(position);
                            grew = true;
                        }
                    }
                }
                group.sort_unstable();
            }
        } else {
            group.extend(1..ready.len());
        }
        let pick = if group.len() < 2 {
            0
        } else {
            let mut ids = std::mem::take(&mut tables.group_ids);
            ids.clear();
            ids.extend(
                group
                    .iter()
                    .map(|&position| kernel.executor.task_id(ready[position])),
            );
            let chosen = kernel.rand.borrow_mut().schedule(&ids);
            assert!(
                chosen < ids.len(),
                "ChoiceSource::schedule returned {chosen} for {} tasks",
                ids.len()
            );
            tables.group_ids = ids;
            if kernel.trace.enabled() {
                kernel.trace_task(ready[group[chosen]], RawKind::Scheduled(group.len() as u32));
            }
            group[chosen]
        };
        tables.group = group;
        pick
    }

    /// Records that the current task touched `key`.
    #[inline]
    pub(crate) fn touch_key(&self, key: Key) {
        let mut tables = self.tables.borrow_mut();
        if tables.current.is_some() {
            tables.touching.insert(key);
        }
    }

    /// A scheduling point for an operation on `keys`; see `check::interleave::point`.
    pub(crate) fn point_keys(&self, kernel: &Kernel, cx: &Context<'_>, keys: &[Key]) -> Poll<()> {
        let mut tables = self.tables.borrow_mut();
        let tables = &mut *tables;
        let Some(current) = tables.current else {
            // Not inside a task poll (test code between steps): act now.
            return Poll::Ready(());
        };
        let granted = keys.iter().all(|key| tables.granted.contains(*key));
        if granted || !kernel.executor.has_ready() {
            // Picked after declaring, or nobody else could go first.
            for key in keys {
                tables.granted.remove(*key);
                tables.touching.insert(*key);
            }
            return Poll::Ready(());
        }
        if tables.slots.len() <= current {
            tables.slots.resize(current + 1, Slot::default());
        }
        for key in keys {
            tables.slots[current].declared.insert(*key);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// `waker`'s task is woken by an operation on `key`: the running task
    /// touched it, and the woken task's next poll will touch it (a socket's
    /// receivers, woken by the network engine).
    pub(crate) fn woke_key(&self, kernel: &Kernel, key: Key, waker: &Waker) {
        self.touch_key(key);
        self.predict(kernel, waker, key);
    }

    /// A primitive woke `waker`'s task: it will touch `key`.
    pub(crate) fn predict(&self, kernel: &Kernel, waker: &Waker, key: Key) {
        if let Some(index) = waker::task_of(waker, kernel.sim_id) {
            let mut tables = self.tables.borrow_mut();
            if tables.slots.len() <= index {
                tables.slots.resize(index + 1, Slot::default());
            }
            tables.slots[index].declared.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_are_stable_and_tagged() {
        let a: SocketAddr = "10.0.0.2:8080".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:8081".parse().unwrap();
        assert_eq!(endpoint(a), endpoint(a));
        assert_ne!(endpoint(a), endpoint(b));
        assert!(endpoint(a) & ENDPOINT != 0);
        assert_ne!(arrivals(a.ip()), endpoint(a));
        assert_eq!(arrivals(a.ip()), arrivals(b.ip()));
        assert!(arrivals(a.ip()) & ENDPOINT != 0);
    }
}
