//! Which kernel runs on this thread: code that is handed no kernel (a
//! process's `Context`, the random API) finds it here. The world sets it
//! while it runs user code or polls tasks (`runtime::context::Entered`)
//! and restores the previous one afterwards.

use super::Kernel;
use std::cell::Cell;

thread_local! {
    static CURRENT: Cell<*const Kernel> = const { Cell::new(std::ptr::null()) };
}

/// Makes `kernel` the current one until the guard drops.
pub(crate) struct Entered {
    previous: *const Kernel,
}

impl Entered {
    pub(crate) fn new(kernel: &Kernel) -> Self {
        let previous = CURRENT.with(|c| c.replace(kernel as *const Kernel));
        Self { previous }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.previous));
    }
}

/// Runs `f` with the current kernel; panics with an explanation outside
/// a simulation (`what` names the call).
#[inline]
#[track_caller]
pub(crate) fn with<R>(what: &str, f: impl FnOnce(&Kernel) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    // SAFETY: `CURRENT` is only non-null while an `Entered` guard is alive,
    // and every guard is created from a `&Kernel` borrowed from a
    // simulation that outlives the guard.
    match unsafe { ptr.as_ref() } {
        Some(kernel) => f(kernel),
        None => outside(what),
    }
}

#[cold]
#[track_caller]
pub(crate) fn outside(what: &str) -> ! {
    panic!(
        "`{what}` was called outside a bach simulation. Run it inside `bach::sim(|| ...)`, \
         `Simulation::run`/`Simulation::enter`, or a task spawned there."
    )
}
