//! Which simulation is running on this thread.
//!
//! Every runtime entry point (`spawn`, `Instant::now`, `sleep`) finds its
//! simulation through one thread-local pointer that `Simulation` sets while it
//! runs user code or polls tasks, and restores afterwards (so simulations nest
//! and run side by side on different threads). Wakers find the executor the
//! same way, one layer down (`executor::current`), whose per-thread registry
//! of live simulations this module uses to find a simulation by id, so an
//! object dropped from test code between steps still reaches it. Nothing here allocates on the
//! hot path; the registry is touched only when a simulation is created or
//! dropped, or on the slow path of a wake from outside the simulation.

use super::Inner;
use crate::executor::{current, Executor};
use std::{any::Any, cell::Cell, rc::Rc};

thread_local! {
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

impl current::Owner for Inner {
    fn executor(&self) -> &Executor {
        &self.executor
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }
}

/// Registers a new simulation on this thread; `create` receives its id.
pub(crate) fn register(create: impl FnOnce(usize) -> Rc<Inner>) -> Rc<Inner> {
    current::register(create)
}

/// Forgets a simulation that is being dropped.
pub(crate) fn unregister(id: usize) {
    current::unregister(id)
}

/// Looks up a live simulation by id (slow path for objects used outside
/// `enter`).
pub(crate) fn lookup(id: usize) -> Option<Rc<Inner>> {
    current::lookup(id).and_then(|owner| owner.into_any().downcast::<Inner>().ok())
}

/// Runs `f` with simulation `sim` if it is still alive: the current one
/// when it matches (the fast path), else found through the registry and
/// entered for the call (objects dropped or used from test code between
/// steps). Does nothing if the simulation has ended. For destructors and
/// other places with no error channel.
pub(crate) fn with_sim_if_alive(sim: usize, f: impl FnOnce(&Inner)) {
    let mut f = Some(f);
    let done = try_with(|inner| match inner {
        Some(inner) if inner.sim_id == sim => {
            (f.take().expect("called once"))(inner);
            true
        }
        _ => false,
    });
    if !done {
        if let Some(inner) = lookup(sim) {
            let _entered = Entered::new(&inner);
            (f.take().expect("not called yet"))(&inner);
        }
    }
}

/// Makes `inner` the current simulation until the guard drops
/// (its executor too, for wakers: see `executor::current`).
pub(crate) struct Entered {
    previous: *const Inner,
    _kernel: crate::kernel::current::Entered,
    _executor: current::Entered,
}

impl Entered {
    pub(crate) fn new(inner: &Inner) -> Self {
        let previous = CURRENT.with(|c| c.replace(inner as *const Inner));
        Self {
            previous,
            _kernel: crate::kernel::current::Entered::new(&inner.kernel),
            _executor: current::Entered::new(&inner.executor, inner.sim_id),
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.previous));
    }
}

/// Runs `f` with the current simulation, or `None` outside any simulation.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(Option<&Inner>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    // SAFETY: `CURRENT` is only non-null while an `Entered` guard is alive, and
    // every guard is created from a `&Inner` borrowed from a `Simulation` that
    // outlives the guard, so the pointee is alive for the whole call.
    let inner = unsafe { ptr.as_ref() };
    f(inner)
}

/// Runs `f` with the current simulation; panics with an explanation outside one.
#[inline]
#[track_caller]
pub(crate) fn with<R>(what: &str, f: impl FnOnce(&Inner) -> R) -> R {
    try_with(|inner| match inner {
        Some(inner) => f(inner),
        None => crate::kernel::current::outside(what),
    })
}

/// Whether the calling code runs inside a simulation.
#[inline]
pub(crate) fn is_active() -> bool {
    try_with(|inner| inner.is_some())
}
