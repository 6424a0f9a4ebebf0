//! Synchronisation primitives native to the simulation: [`mpsc`],
//! [`oneshot`], [`watch`], [`Mutex`], [`RwLock`], [`Semaphore`], [`Notify`].
//!
//! Names and signatures follow tokio's, so ported code changes an import
//! (`tokio::sync` → `bach::sync`); each type documents where it deviates
//! (mostly: owned guards and permits take `Rc` instead of `Arc`, and there
//! are no blocking variants).
//!
//! What this module owns: the state of each primitive and one wait queue
//! (`wait.rs`) through which every primitive parks and wakes tasks. Waiters
//! are served first-in, first-out, so wake order is deterministic, and
//! every primitive carries a small resource id so an explorer can tell which
//! tasks contend for the same thing. Under interleaving exploration
//! ([`Simulation::interleavings`](crate::Simulation::interleavings)) every
//! async operation (`lock`, `acquire`, `send`, `recv`, `notified`,
//! `changed`, …) starts with a scheduling point, where the choice source
//! decides which contending task reaches the primitive first; synchronous
//! operations (`try_*`, unlocking, `notify_one`, `close`, …) record that the
//! task touched the primitive. With exploration off both cost a bit test.
//!
//! What it never does: use atomics or OS locks (state is `RefCell`/`Cell`,
//! and the types are `!Send`), spawn tasks, read a clock (except
//! `send_timeout`, through `bach::time`), or allocate on a steady-state
//! send, receive, lock or unlock.
//!
//! A task blocked forever on one of these primitives is a deadlock the
//! runtime reports, naming the blocked primary tasks:
//!
//! ```
//! use bach::{ext::*, sync::Mutex};
//! use std::rc::Rc;
//!
//! bach::sim(|| {
//!     let counter = Rc::new(Mutex::new(0));
//!     for _ in 0..3 {
//!         let counter = counter.clone();
//!         async move {
//!             let mut guard = counter.lock().await;
//!             1.ms().sleep().await; // held across an await
//!             *guard += 1;
//!         }
//!         .primary()
//!         .spawn();
//!     }
//! });
//! ```

pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod rwlock;
mod semaphore;
pub(crate) mod wait;
pub mod watch;

pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};

pub(crate) use wait::{wake, ResourceId, WaitKey, WaitQueue, WakeList};
