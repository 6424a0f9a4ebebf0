//! What blocked tasks wait on, for deadlock reports.
//!
//! A `bach::sync` primitive that makes a task wait (a lock, a channel, a
//! notification) leaves a [`WaitNote`] on the thread as the task registers
//! in its wait queue: the primitive's kind, its number in the simulation,
//! where it was created and, for locks and semaphores, who holds it. The
//! run loop takes the note after each poll and keeps it with the task while
//! the task stays pending; a deadlock report reads it back (what each
//! blocked task waits on, who holds that, and the wait-for cycle if there
//! is one). Holding nothing between polls but a note per waiting task,
//! this costs a thread-local store per wait and a take per poll.

use std::{cell::RefCell, panic::Location, rc::Rc};

/// The tasks (executor slots) holding a lock or semaphore's permits, one
/// entry per acquisition; shared by the primitive and the notes of its
/// waiters.
pub(crate) type Holders = Rc<RefCell<Vec<usize>>>;

/// What a task waits on.
#[derive(Clone, Debug)]
pub(crate) struct WaitNote {
    /// `mutex`, `rwlock`, `semaphore`, `mpsc channel`…
    pub(crate) kind: &'static str,
    /// The primitive's number in its simulation (creation order).
    pub(crate) resource: u32,
    /// Where the primitive was created.
    pub(crate) site: &'static Location<'static>,
    /// Who holds it (locks and semaphores).
    pub(crate) holders: Option<Holders>,
}

thread_local! {
    static NOTE: RefCell<Option<WaitNote>> = const { RefCell::new(None) };
}

/// Leaves `note` for the run loop: the task being polled now waits on it.
#[inline]
pub(crate) fn note(note: WaitNote) {
    let _ = NOTE.try_with(|slot| *slot.borrow_mut() = Some(note));
}

/// Takes the note the last poll left, if any.
#[inline]
pub(crate) fn take() -> Option<WaitNote> {
    NOTE.try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
}

/// Records that the task being polled (if any) took permits of `holders`.
#[inline]
pub(crate) fn hold(holders: &Holders) {
    if let Some(index) = super::current::polling() {
        holders.borrow_mut().push(index);
    }
}

/// Records that permits of `holders` were given back, by the task being
/// polled if it held some (else by the earliest holder: a guard moved to
/// another task).
#[inline]
pub(crate) fn release(holders: &Holders) {
    let mut holders = holders.borrow_mut();
    let at = super::current::polling()
        .and_then(|index| holders.iter().position(|held| *held == index))
        .unwrap_or(0);
    if at < holders.len() {
        holders.remove(at);
    }
}
