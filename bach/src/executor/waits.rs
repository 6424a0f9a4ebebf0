//! What blocked tasks wait on, for deadlock reports.
//!
//! When a run deadlocks, the report polls every blocked task once more
//! ([`diagnose`]: a spurious poll, which every future must tolerate). A
//! `bach::sync` primitive polled by a waiting task then notes what it is
//! ([`note`]): its kind, its number in the simulation, where it was
//! created and, for locks and semaphores, the [`Holder`] cell naming the
//! task that last took it. The executor keeps the notes by task; the report
//! reads them back (what each blocked task waits on, who holds that, and
//! the wait-for cycle if there is one).
//!
//! The costs sit off the hot paths: a lock records its taker in one cell
//! per acquisition (no release work: a lock a task waits on is not free,
//! so its last taker still holds it, or for a semaphore is one of those
//! that do), and a wait during a run tests one thread-local flag.

use std::{cell::Cell, panic::Location, rc::Rc};

/// The executor slot of the task that last took a lock's or semaphore's
/// permits (`u32::MAX`: none yet, or taken outside any task); shared by
/// the primitive and the notes of its waiters.
pub(crate) type Holder = Rc<Cell<u32>>;

/// A holder cell naming nobody yet.
pub(crate) fn holder() -> Holder {
    Rc::new(Cell::new(u32::MAX))
}

/// What a task waits on.
#[derive(Clone, Debug)]
pub(crate) struct WaitNote {
    /// `mutex`, `rwlock`, `semaphore`, `mpsc channel`…
    pub(crate) kind: &'static str,
    /// The primitive's number in its simulation (creation order).
    pub(crate) resource: u32,
    /// Where the primitive was created.
    pub(crate) site: &'static Location<'static>,
    /// Who last took it (locks and semaphores).
    pub(crate) holder: Option<Holder>,
}

impl WaitNote {
    /// The slot of the task that last took the primitive, if known.
    pub(crate) fn holder_slot(&self) -> Option<usize> {
        let slot = self.holder.as_ref()?.get();
        (slot != u32::MAX).then_some(slot as usize)
    }
}

thread_local! {
    /// Whether primitives note what a polled task waits on: only while a
    /// deadlock report polls the blocked tasks once more ([`diagnose`]).
    static DIAGNOSING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (which polls blocked tasks) with notes on.
pub(crate) fn diagnose<R>(f: impl FnOnce() -> R) -> R {
    let previous = DIAGNOSING.with(|on| on.replace(true));
    let result = f();
    DIAGNOSING.with(|on| on.set(previous));
    result
}

/// Notes that the task being polled waits on a primitive (a `kind`
/// numbered `resource`, created at `site`, last taken by `holder`'s task):
/// the executor keeps the note with the task until its next poll ends.
#[inline]
pub(crate) fn note(
    kind: &'static str,
    resource: u32,
    site: &'static Location<'static>,
    holder: Option<&Holder>,
) {
    if !DIAGNOSING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    super::current::with(|current| {
        if let Some((executor, _)) = current {
            executor.note_wait(kind, resource, site, holder);
        }
    })
}

/// Records that the task being polled (if any) took permits guarded by
/// `holder`.
#[inline]
pub(crate) fn took(holder: &Holder) {
    let slot = super::current::polling().map_or(u32::MAX, |slot| slot as u32);
    holder.set(slot);
}
