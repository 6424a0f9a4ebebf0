//! What blocked tasks wait on, for deadlock reports.
//!
//! A `bach::sync` primitive that makes a task wait (a lock, a channel, a
//! notification) leaves a [`WaitNote`] on the thread as the task registers
//! in its wait queue: the primitive's kind, its number in the simulation,
//! where it was created and, for locks and semaphores, the [`Holder`] cell
//! naming the task that last took it. The run loop takes the note after
//! each poll and keeps it with the task while the task stays pending; a
//! deadlock report reads it back (what each blocked task waits on, who
//! holds that, and the wait-for cycle if there is one).
//!
//! The costs sit off the hot paths: a lock records its taker in one cell
//! per acquisition (no release work: a lock a task waits on is not free,
//! so its last taker still holds it, or for a semaphore is one of those
//! that do); a wait writes the note, which the executor keeps in a side
//! table and drops when the task is next polled (a flag of its slot); a
//! poll that waits on nothing tests one thread-local flag.

use std::{
    cell::{Cell, RefCell},
    panic::Location,
    rc::Rc,
};

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
    /// Whether `NOTE` holds a note (tested on every poll: no destructor,
    /// so the test is one load).
    static NOTED: Cell<bool> = const { Cell::new(false) };
    static NOTE: RefCell<Option<WaitNote>> = const { RefCell::new(None) };
}

/// Leaves `note` for the run loop: the task being polled now waits on it.
#[inline]
pub(crate) fn note(note: WaitNote) {
    let _ = NOTE.try_with(|slot| *slot.borrow_mut() = Some(note));
    let _ = NOTED.try_with(|noted| noted.set(true));
}

/// Whether the last poll left a note (one load).
#[inline]
pub(crate) fn noted() -> bool {
    NOTED.try_with(Cell::get).unwrap_or(false)
}

/// Takes the note the last poll left, if any.
pub(crate) fn take() -> Option<WaitNote> {
    let _ = NOTED.try_with(|noted| noted.set(false));
    NOTE.try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
}

/// Records that the task being polled (if any) took permits guarded by
/// `holder`.
#[inline]
pub(crate) fn took(holder: &Holder) {
    let slot = super::current::polling().map_or(u32::MAX, |slot| slot as u32);
    holder.set(slot);
}
