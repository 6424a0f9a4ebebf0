//! [`RwLock`]: many readers or one writer, served first-in, first-out.

use super::{
    mutex::TryLockError,
    semaphore::{self, Acquire, Permits},
    wait::ResourceId,
};
use std::{
    cell::{RefCell, UnsafeCell},
    fmt,
    ops::{Deref, DerefMut},
    rc::Rc,
};

/// tokio's default (and largest) number of concurrent readers.
const MAX_READS: u32 = u32::MAX >> 3;

/// An async reader-writer lock (tokio's `RwLock`).
///
/// A semaphore with one permit per possible reader underneath: a reader
/// takes one, a writer takes them all. Requests are served in FIFO order,
/// so a waiting writer holds back readers that arrive after it (no writer
/// starvation), and readers queued behind a writer proceed together once
/// it leaves.
///
/// Deviations from tokio: owned guards take `Rc<RwLock<T>>`; there are no
/// blocking or mapped variants.
pub struct RwLock<T: ?Sized> {
    max_readers: u32,
    permits: RefCell<Permits>,
    value: UnsafeCell<T>,
}

impl<T> RwLock<T> {
    /// A new, unlocked lock.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::with_max_readers(value, MAX_READS)
    }

    /// A lock admitting at most `max_reads` readers at once. Panics if
    /// `max_reads` is 0 or above `u32::MAX >> 3`.
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> Self {
        assert!(
            (1..=MAX_READS).contains(&max_reads),
            "an RwLock admits between 1 and {MAX_READS} readers, not {max_reads}"
        );
        Self {
            max_readers: max_reads,
            permits: RefCell::new(Permits::held(
                max_reads as usize,
                ResourceId::next(),
                "rwlock",
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

impl<T: ?Sized> RwLock<T> {
    async fn acquire(&self, n: u32) {
        Acquire::new(&self.permits, n as usize)
            .await
            .expect("an RwLock's semaphore is never closed");
        self.permits.borrow().took();
    }

    fn try_acquire(&self, n: u32) -> Result<(), TryLockError> {
        let mut permits = self.permits.borrow_mut();
        permits
            .try_acquire(n as usize)
            .map_err(|_| TryLockError(()))?;
        permits.took();
        Ok(())
    }

    /// Waits for shared read access.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        self.acquire(1).await;
        RwLockReadGuard { lock: self }
    }

    /// Waits for exclusive write access.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.acquire(self.max_readers).await;
        RwLockWriteGuard { lock: self }
    }

    /// Read access now, if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.try_acquire(1)?;
        Ok(RwLockReadGuard { lock: self })
    }

    /// Write access now, if nobody holds or waits for the lock.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.try_acquire(self.max_readers)?;
        Ok(RwLockWriteGuard { lock: self })
    }

    /// [`Self::read`] returning a guard that owns the lock.
    pub async fn read_owned(self: Rc<Self>) -> OwnedRwLockReadGuard<T> {
        self.acquire(1).await;
        OwnedRwLockReadGuard { lock: self }
    }

    /// [`Self::write`] returning a guard that owns the lock.
    pub async fn write_owned(self: Rc<Self>) -> OwnedRwLockWriteGuard<T> {
        self.acquire(self.max_readers).await;
        OwnedRwLockWriteGuard { lock: Some(self) }
    }

    /// [`Self::try_read`] returning a guard that owns the lock.
    pub fn try_read_owned(self: Rc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        self.try_acquire(1)?;
        Ok(OwnedRwLockReadGuard { lock: self })
    }

    /// [`Self::try_write`] returning a guard that owns the lock.
    pub fn try_write_owned(self: Rc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        self.try_acquire(self.max_readers)?;
        Ok(OwnedRwLockWriteGuard { lock: Some(self) })
    }

    /// The protected value, through exclusive access to the lock itself.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn release(&self, n: u32) {
        semaphore::release(&self.permits, n as usize);
    }

    /// # Safety
    /// The caller holds at least one permit.
    unsafe fn value(&self) -> &T {
        unsafe { &*self.value.get() }
    }

    /// # Safety
    /// The caller holds every permit and `&mut` access to its guard.
    #[allow(clippy::mut_from_ref)]
    unsafe fn value_mut(&self) -> &mut T {
        unsafe { &mut *self.value.get() }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        d.field("resource", &self.permits.borrow().resource());
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared read access to an [`RwLock`]; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard holds one permit; writers need all of them.
        unsafe { self.lock.value() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive write access to an [`RwLock`]; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns write access into read access without letting a writer in
    /// between; queued readers may now proceed too.
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        std::mem::forget(self);
        lock.release(lock.max_readers - 1);
        RwLockReadGuard { lock }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a write guard holds every permit.
        unsafe { self.lock.value() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: a write guard holds every permit; `&mut self` is unique.
        unsafe { self.lock.value_mut() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(self.lock.max_readers);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Shared read access to an `Rc<RwLock<T>>`; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockReadGuard<T: ?Sized> {
    lock: Rc<RwLock<T>>,
}

impl<T: ?Sized> OwnedRwLockReadGuard<T> {
    /// The lock this guard reads.
    pub fn rwlock(this: &Self) -> &Rc<RwLock<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: see `RwLockReadGuard::deref`.
        unsafe { self.lock.value() }
    }
}

impl<T: ?Sized> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive write access to an `Rc<RwLock<T>>`; released when dropped.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockWriteGuard<T: ?Sized> {
    lock: Option<Rc<RwLock<T>>>,
}

impl<T: ?Sized> OwnedRwLockWriteGuard<T> {
    fn lock(&self) -> &RwLock<T> {
        self.lock
            .as_ref()
            .expect("the guard owns its lock until dropped")
    }

    /// The lock this guard writes.
    pub fn rwlock(this: &Self) -> &Rc<RwLock<T>> {
        this.lock
            .as_ref()
            .expect("the guard owns its lock until dropped")
    }

    /// Turns write access into read access without letting a writer in.
    pub fn downgrade(mut self) -> OwnedRwLockReadGuard<T> {
        let lock = self
            .lock
            .take()
            .expect("the guard owns its lock until dropped");
        lock.release(lock.max_readers - 1);
        OwnedRwLockReadGuard { lock }
    }
}

impl<T: ?Sized> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: see `RwLockWriteGuard::deref`.
        unsafe { self.lock().value() }
    }
}

impl<T: ?Sized> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: see `RwLockWriteGuard::deref_mut`.
        unsafe { self.lock().value_mut() }
    }
}

impl<T: ?Sized> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release(lock.max_readers);
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
