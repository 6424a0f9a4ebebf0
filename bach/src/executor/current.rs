//! Which executor runs on this thread, and the simulations alive on it.
//!
//! A waker woken through its vtable (by a channel, a user future) knows only
//! its task index and the simulation's small id. It finds the executor
//! through one thread-local pointer that the simulation sets while it runs
//! user code or polls tasks ([`Entered`]) and restores afterwards (so
//! simulations nest and run side by side on different threads). A
//! per-thread registry maps a simulation's id to a weak handle of its
//! [`Owner`], so a waker fired from test code between steps still reaches
//! its simulation. The executor layer never names the simulation: the
//! world registers itself as an `Owner`, and finds itself again through
//! [`Owner::into_any`].

use super::Executor;
use std::{
    any::Any,
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

/// What holds an executor (the simulation), seen from join handles and from
/// the registry of live simulations.
pub(crate) trait Owner: 'static {
    fn executor(&self) -> &Executor;

    /// The owner as `Any`, to be found again as its own type.
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
}

thread_local! {
    /// The entered executor and the id of its simulation.
    static CURRENT: Cell<(*const Executor, usize)> =
        const { Cell::new((std::ptr::null(), usize::MAX)) };
    static REGISTRY: RefCell<slab::Slab<Weak<dyn Owner>>> =
        const { RefCell::new(slab::Slab::new()) };
    static HOSTED: Cell<bool> = const { Cell::new(false) };
}

/// Registers a new simulation on this thread; `create` receives its id.
pub(crate) fn register<O: Owner>(create: impl FnOnce(usize) -> Rc<O>) -> Rc<O> {
    HOSTED.with(|h| h.set(true));
    let id = REGISTRY.with(|r| r.borrow().vacant_key());
    let owner = create(id);
    let weak: Weak<dyn Owner> = Rc::downgrade(&owner) as Weak<dyn Owner>;
    let registered = REGISTRY.with(|r| r.borrow_mut().insert(weak));
    debug_assert_eq!(id, registered);
    owner
}

/// Forgets a simulation that is being dropped.
pub(crate) fn unregister(id: usize) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if r.contains(id) {
            r.remove(id);
        }
    });
}

/// Looks up a live simulation by id (the slow path of objects used outside
/// their simulation).
pub(crate) fn lookup(id: usize) -> Option<Rc<dyn Owner>> {
    REGISTRY
        .try_with(|r| r.borrow().get(id).and_then(Weak::upgrade))
        .ok()
        .flatten()
}

/// Whether this OS thread ever hosted a simulation.
pub(crate) fn thread_hosted_simulation() -> bool {
    HOSTED.try_with(|h| h.get()).unwrap_or(false)
}

/// Makes `executor` (of simulation `sim`) the current one until the guard
/// drops.
pub(crate) struct Entered {
    previous: (*const Executor, usize),
}

impl Entered {
    pub(crate) fn new(executor: &Executor, sim: usize) -> Self {
        let previous = CURRENT.with(|c| c.replace((executor as *const Executor, sim)));
        Self { previous }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.previous));
    }
}

/// The slot of the task the current executor is polling, if any.
#[inline]
pub(crate) fn polling() -> Option<usize> {
    with(|current| current.and_then(|(executor, _)| executor.current()))
}

/// Runs `f` with the current executor and its simulation's id, or `None`
/// outside any simulation.
#[inline]
pub(super) fn with<R>(f: impl FnOnce(Option<(&Executor, usize)>) -> R) -> R {
    let (ptr, sim) = CURRENT
        .try_with(|c| c.get())
        .unwrap_or((std::ptr::null(), usize::MAX));
    // SAFETY: `CURRENT` holds a non-null pointer only while an `Entered`
    // guard is alive, and every guard is created from a `&Executor`
    // borrowed from a simulation that outlives the guard.
    f(unsafe { ptr.as_ref() }.map(|executor| (executor, sim)))
}
