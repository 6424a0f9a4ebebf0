//! The wait queue behind every `bach::sync` primitive and queue channel.
//!
//! Whenever a task has to wait for a primitive (a lock, a permit, a message,
//! a notification) it registers here, and whenever the primitive can let a
//! waiter proceed it asks this queue *which* one. That makes this file the
//! seam through which interleaving exploration (`check::interleave`) learns
//! which tasks contend:
//!
//! * every wait point is a [`WaitQueue::register`] call on a queue that
//!   carries the [`ResourceId`] of its primitive, and registering counts as
//!   touching that resource;
//! * every wake-up goes through [`WaitQueue::wake`], which tells the
//!   explorer that the woken task's next poll touches the resource;
//! * who proceeds is decided by [`WaitQueue::next_waiter`]: the oldest
//!   waiter, the documented FIFO fairness of every primitive. Exploration
//!   keeps that promise (a tokio mutex is fair, so an unfair hand-off would
//!   be a false alarm); it varies the order in which tasks *reach* the
//!   primitive instead, at the scheduling point of each async operation.
//!
//! Waiters live in a slab and are linked into an intrusive doubly-linked
//! list in arrival order, so registering, unlinking a cancelled waiter and
//! waking are O(1) and allocate nothing once the slab has grown to the
//! largest number of simultaneous waiters. A waiter stays in the slab after
//! it is woken until its future observes (or abandons) the wake-up, so a
//! primitive can tell a cancelled-after-wake future apart and pass its
//! wake-up on. Wakers are never invoked while a primitive's state is
//! borrowed: wake-ups are collected in a [`WakeList`] and fired after the
//! borrow ends. This module never touches a primitive's own state.

pub(crate) use crate::kernel::interleave::ResourceId;
use crate::{
    check::interleave,
    executor::waits::{self, Holder},
    runtime::{context, Inner},
};
use slab::Slab;
use std::{
    cell::{Cell, RefCell},
    fmt,
    mem::MaybeUninit,
    panic::Location,
    rc::Weak,
    task::Waker,
};

thread_local! {
    /// Next id per live simulation on this thread (a handful of entries).
    static NEXT_IDS: RefCell<Vec<(Weak<Inner>, u32)>> = const { RefCell::new(Vec::new()) };
    /// Next id for primitives created outside any simulation.
    static NEXT_DETACHED: Cell<u32> = const { Cell::new(0) };
}

impl ResourceId {
    /// A fresh id: the next number of the current simulation, or of the
    /// thread's pool when created outside a simulation.
    pub(crate) fn next() -> ResourceId {
        context::try_with(|inner| match inner {
            Some(inner) => NEXT_IDS.with(|ids| {
                let mut ids = ids.borrow_mut();
                let this = inner as *const Inner;
                // A live `Weak` keeps its allocation, so an address match
                // is the same simulation.
                let found = ids
                    .iter_mut()
                    .find(|(weak, _)| weak.as_ptr() == this && weak.strong_count() > 0);
                let next = match found {
                    Some((_, next)) => next,
                    None => {
                        ids.retain(|(weak, _)| weak.strong_count() > 0);
                        ids.push((std::rc::Rc::downgrade(&inner.rc()), 0));
                        &mut ids.last_mut().expect("just pushed").1
                    }
                };
                let id = *next;
                *next = ResourceId::number_after(id);
                let flag = u32::from(inner.interleave.enabled());
                ResourceId::new(id, flag != 0)
            }),
            None => NEXT_DETACHED.with(|next| {
                let id = next.get();
                next.set(ResourceId::number_after(id));
                ResourceId::new(id, false)
            }),
        })
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resource #{}", self.index())
    }
}

const NIL: usize = usize::MAX;

/// Tasks waiting for one resource, in arrival order. `D` is what the
/// primitive remembers per waiter (e.g. how many permits it asked for).
pub(crate) struct WaitQueue<D = ()> {
    resource: ResourceId,
    /// What the primitive is and where it was created, and who holds it
    /// (locks and semaphores): what a waiter's deadlock report says.
    kind: &'static str,
    site: &'static Location<'static>,
    holder: Option<Holder>,
    slots: Slab<Waiter<D>>,
    head: usize,
    tail: usize,
    linked: usize,
}

struct Waiter<D> {
    waker: Option<Waker>,
    prev: usize,
    next: usize,
    woken: bool,
    data: D,
}

/// A registration, owned by the future that waits. Hand it back with
/// [`WaitQueue::remove`] when the future completes or is dropped.
#[derive(Debug)]
pub(crate) struct WaitKey(usize);

/// A waiter picked by [`WaitQueue::next_waiter`]; valid until the queue is
/// next modified.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chosen(usize);

/// What [`WaitQueue::remove`] found.
pub(crate) struct Removed<D> {
    /// Whether the waiter had been woken (and not re-armed) before removal.
    pub(crate) woken: bool,
    pub(crate) data: D,
}

impl<D> WaitQueue<D> {
    /// The wait queue of primitive `resource`, a `kind` (`"mutex"`, `"mpsc
    /// channel"`…) created at `site`.
    pub(crate) fn new(
        resource: ResourceId,
        kind: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        Self {
            resource,
            kind,
            site,
            holder: None,
            slots: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// Waiters' notes name `holder`'s task as who holds the primitive.
    pub(crate) fn with_holder(mut self, holder: Holder) -> Self {
        self.holder = Some(holder);
        self
    }

    /// Tells the run loop what the task being polled now waits on.
    #[inline]
    fn note_wait(&self) {
        waits::note(
            self.kind,
            self.resource.index(),
            self.site,
            self.holder.as_ref(),
        );
    }

    /// The primitive this queue belongs to.
    pub(crate) fn resource(&self) -> ResourceId {
        self.resource
    }

    /// Number of waiters not yet woken.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Whether no waiter is waiting (woken ones do not count).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Appends a waiter. `waker` may be `None` for a waiter that registers
    /// before it is first polled (`Notified::enable`).
    pub(crate) fn register(&mut self, waker: Option<&Waker>, data: D) -> WaitKey {
        interleave::touch(self.resource);
        if waker.is_some() {
            self.note_wait();
        }
        let index = self.slots.insert(Waiter {
            waker: waker.cloned(),
            prev: NIL,
            next: NIL,
            woken: false,
            data,
        });
        self.link(index);
        WaitKey(index)
    }

    /// Updates the waker of a waiting registration (without cloning when it
    /// would wake the same task).
    #[inline]
    pub(crate) fn set_waker(&mut self, key: &WaitKey, waker: &Waker) {
        self.note_wait();
        let slot = &mut self.slots[key.0].waker;
        match slot {
            Some(current) if current.will_wake(waker) => {}
            Some(current) => current.clone_from(waker),
            None => *slot = Some(waker.clone()),
        }
    }

    /// Whether this registration has been woken.
    #[inline]
    pub(crate) fn is_woken(&self, key: &WaitKey) -> bool {
        self.slots[key.0].woken
    }

    /// Puts a woken registration back at the end of the line (its wake-up
    /// turned out to be stale: someone else took what it was woken for).
    pub(crate) fn rearm(&mut self, key: &WaitKey, waker: &Waker) {
        self.set_waker(key, waker);
        if self.slots[key.0].woken {
            self.slots[key.0].woken = false;
            self.link(key.0);
        }
    }

    /// Number of registrations, woken or not, not yet removed.
    pub(crate) fn registered(&self) -> usize {
        self.slots.len()
    }

    /// Ends a registration, unlinking it if it is still waiting.
    pub(crate) fn remove(&mut self, key: WaitKey) -> Removed<D> {
        if !self.slots[key.0].woken {
            self.unlink(key.0);
        }
        let waiter = self.slots.remove(key.0);
        Removed {
            woken: waiter.woken,
            data: waiter.data,
        }
    }

    /// Which waiting task the primitive should consider next: the oldest
    /// (FIFO fairness, documented by each primitive, and kept under
    /// exploration). Every wake-up of every primitive is decided here.
    #[inline]
    pub(crate) fn next_waiter(&self) -> Option<Chosen> {
        (self.head != NIL).then_some(Chosen(self.head))
    }

    /// The data of a chosen waiter.
    pub(crate) fn chosen_data(&mut self, chosen: Chosen) -> &mut D {
        &mut self.slots[chosen.0].data
    }

    /// Marks a chosen waiter woken and unlinks it; returns its waker, to be
    /// invoked once the primitive's state is no longer borrowed.
    pub(crate) fn wake(&mut self, chosen: Chosen) -> Option<Waker> {
        self.unlink(chosen.0);
        let waiter = &mut self.slots[chosen.0];
        waiter.woken = true;
        let waker = waiter.waker.take();
        if let Some(waker) = &waker {
            interleave::woke(self.resource, waker);
        }
        waker
    }

    /// Wakes the waiter [`Self::next_waiter`] picks, if any.
    #[inline]
    pub(crate) fn wake_one(&mut self) -> Option<Waker> {
        let chosen = self.next_waiter()?;
        self.wake(chosen)
    }

    /// Wakes waiters (in [`Self::next_waiter`] order) into `wakes` until none
    /// is left or the list is full; returns `true` if waiters remain.
    pub(crate) fn wake_all(&mut self, wakes: &mut WakeList) -> bool {
        while let Some(chosen) = self.next_waiter() {
            if wakes.is_full() {
                return true;
            }
            wakes.push(self.wake(chosen));
        }
        false
    }

    #[inline]
    fn link(&mut self, index: usize) {
        let tail = self.tail;
        {
            let waiter = &mut self.slots[index];
            waiter.prev = tail;
            waiter.next = NIL;
        }
        if tail == NIL {
            self.head = index;
        } else {
            self.slots[tail].next = index;
        }
        self.tail = index;
        self.linked += 1;
    }

    #[inline]
    fn unlink(&mut self, index: usize) {
        let (prev, next) = {
            let waiter = &self.slots[index];
            (waiter.prev, waiter.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next].prev = prev;
        }
        self.linked -= 1;
    }
}

impl<D> fmt::Debug for WaitQueue<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitQueue")
            .field("resource", &self.resource)
            .field("waiting", &self.linked)
            .finish()
    }
}

const WAKE_BATCH: usize = 32;

/// Wakers collected while a primitive's state is borrowed, fired after.
/// Fixed capacity on the stack: filling it never allocates; a caller with
/// more to wake fires a batch and continues.
pub(crate) struct WakeList {
    wakers: [MaybeUninit<Waker>; WAKE_BATCH],
    len: usize,
}

impl WakeList {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            wakers: [const { MaybeUninit::uninit() }; WAKE_BATCH],
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == WAKE_BATCH
    }

    /// Adds a waker (`None` is ignored). Panics if the list is full.
    #[inline]
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            assert!(!self.is_full(), "WakeList overflow");
            self.wakers[self.len].write(waker);
            self.len += 1;
        }
    }

    /// Wakes everything collected, in collection order.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        let len = std::mem::replace(&mut self.len, 0);
        for slot in &mut self.wakers[..len] {
            // SAFETY: the first `len` slots were initialised by `push`, and
            // `len` was reset first, so each is read exactly once.
            unsafe { slot.assume_init_read() }.wake();
        }
    }
}

impl Drop for WakeList {
    #[inline]
    fn drop(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            // SAFETY: as in `wake_all`; these were never read.
            unsafe { slot.assume_init_drop() };
        }
    }
}

/// Wakes a waker taken out of a wait queue, if there was one.
#[inline]
pub(crate) fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> WaitQueue<u32> {
        WaitQueue::new(ResourceId::new(0, false), "test queue", Location::caller())
    }

    #[test]
    fn fifo_order_and_cancellation() {
        let mut q = queue();
        let a = q.register(None, 1);
        let b = q.register(None, 2);
        let c = q.register(None, 3);
        assert_eq!(q.len(), 3);
        // b is cancelled before anyone is woken.
        let removed = q.remove(b);
        assert!(!removed.woken);
        assert_eq!(removed.data, 2);
        let first = q.next_waiter().unwrap();
        assert_eq!(*q.chosen_data(first), 1);
        q.wake(first);
        assert!(q.is_woken(&a));
        let second = q.next_waiter().unwrap();
        assert_eq!(*q.chosen_data(second), 3);
        q.wake(second);
        assert!(q.is_empty());
        assert!(q.remove(a).woken);
        assert!(q.remove(c).woken);
    }

    #[test]
    fn rearm_goes_to_the_back() {
        let waker = Waker::noop();
        let mut q = queue();
        let a = q.register(Some(waker), 1);
        let _b = q.register(Some(waker), 2);
        q.wake_one();
        q.rearm(&a, waker);
        assert!(!q.is_woken(&a));
        let next = q.next_waiter().unwrap();
        assert_eq!(*q.chosen_data(next), 2);
    }

    #[test]
    fn slab_is_reused_without_growth() {
        let mut q = queue();
        for round in 0..1000 {
            let key = q.register(None, round);
            q.remove(key);
        }
        assert!(q.slots.capacity() <= 4);
    }

    #[test]
    fn wake_all_batches() {
        let waker = Waker::noop();
        let mut q = queue();
        for i in 0..(WAKE_BATCH as u32 + 5) {
            q.register(Some(waker), i);
        }
        let mut wakes = WakeList::new();
        assert!(q.wake_all(&mut wakes));
        wakes.wake_all();
        assert!(!q.wake_all(&mut wakes));
        assert!(q.is_empty());
    }
}
