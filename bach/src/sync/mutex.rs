//! [`Mutex`]: an async lock handed to waiters first-in, first-out.

use super::{
    semaphore::{self, Acquire, Permits},
    wait::ResourceId,
};
use std::{
    cell::{RefCell, UnsafeCell},
    fmt,
    ops::{Deref, DerefMut},
    rc::Rc,
};

/// An async mutual-exclusion lock (tokio's `Mutex`), a one-permit
/// semaphore underneath.
///
/// `lock().await` waits in a FIFO line: when the holder releases, the
/// oldest waiter owns the lock before anyone else can take it, and
/// [`Mutex::try_lock`] fails while anyone waits. A task blocked on a lock
/// that is never released shows up in the simulation's deadlock report.
///
/// Deviations from tokio: owned guards take `Rc<Mutex<T>>` instead of
/// `Arc<Mutex<T>>`; there is no `blocking_lock` (nothing may block the
/// simulation thread) and no mapped guards.
pub struct Mutex<T: ?Sized> {
    permits: RefCell<Permits>,
    value: UnsafeCell<T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self {
            permits: RefCell::new(Permits::held(
                1,
                ResourceId::next(),
                "mutex",
                std::panic::Location::caller(),
            )),
            value: UnsafeCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock (FIFO among waiters).
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        Acquire::new(&self.permits, 1)
            .await
            .expect("a mutex's semaphore is never closed");
        self.permits.borrow().took();
        MutexGuard { lock: self }
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        self.take_now()?;
        Ok(MutexGuard { lock: self })
    }

    /// Waits for the lock, returning a guard that owns the mutex.
    pub async fn lock_owned(self: Rc<Self>) -> OwnedMutexGuard<T> {
        Acquire::new(&self.permits, 1)
            .await
            .expect("a mutex's semaphore is never closed");
        self.permits.borrow().took();
        OwnedMutexGuard { lock: self }
    }

    /// [`Self::try_lock`] returning a guard that owns the mutex.
    pub fn try_lock_owned(self: Rc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        self.take_now()?;
        Ok(OwnedMutexGuard { lock: self })
    }

    /// Takes the lock now if it is free, recording the holder.
    fn take_now(&self) -> Result<(), TryLockError> {
        let mut permits = self.permits.borrow_mut();
        permits.try_acquire(1).map_err(|_| TryLockError(()))?;
        permits.took();
        Ok(())
    }

    /// The protected value, through exclusive access to the mutex itself.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn unlock(&self) {
        semaphore::release(&self.permits, 1);
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        d.field("resource", &self.permits.borrow().resource());
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no other
        // reference to the value exists while it lives.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this one unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Exclusive access to the value of an `Rc<Mutex<T>>`; unlocks when
/// dropped. It can be held across `.await` and moved between tasks.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct OwnedMutexGuard<T: ?Sized> {
    lock: Rc<Mutex<T>>,
}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Rc<Mutex<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: see `MutexGuard::deref`.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: see `MutexGuard::deref_mut`.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The lock is held, or other tasks are waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(pub(crate) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}

impl std::error::Error for TryLockError {}
