//! [`Semaphore`], and the permit ledger that `Mutex`, `RwLock` and bounded
//! `mpsc` channels are built on.
//!
//! (Over 600 lines on purpose: the permit count, the first-in first-out
//! waiter list and the cancellation of a waiting acquire are one
//! invariant, shared by `Mutex`, `RwLock` and the bounded channels.)
//!
//! A [`Permits`] ledger holds the available permits and the tasks waiting
//! for some. Permits are handed to waiters in [`WaitQueue::next_waiter`]
//! order (FIFO): a released permit goes to the oldest waiter — partially, if
//! it asked for more than there is — and a newcomer never overtakes a queued
//! waiter, so large requests cannot starve. Handing over is direct: the
//! woken waiter already owns its permits when it next runs.

use super::wait::{ResourceId, WaitKey, WaitQueue, WakeList};
use crate::{
    check::interleave,
    executor::waits::{self, Holder},
};
use std::{
    cell::RefCell,
    fmt,
    future::Future,
    panic::Location,
    pin::Pin,
    rc::Rc,
    task::{ready, Context, Poll},
};

/// What a queued acquirer asked for and has been given so far.
pub(crate) struct Need {
    wanted: usize,
    assigned: usize,
}

/// [`Permits::gate`] bits: anything set sends [`Acquire`] off its fast path.
const CLOSED: u8 = 1;
/// The resource is explored: every acquisition starts at its scheduling
/// point.
const EXPLORED: u8 = 2;

/// Available permits plus the queue of tasks waiting for permits.
pub(crate) struct Permits {
    available: usize,
    /// [`CLOSED`] and [`EXPLORED`]: one byte, so `Acquire`'s fast path
    /// tests both for the price of the closed check alone.
    gate: u8,
    waiters: WaitQueue<Need>,
    /// Who last took permits (locks and semaphores; `None` for a
    /// channel's capacity), for deadlock reports.
    holder: Option<Holder>,
}

impl Permits {
    /// The ledger of a channel's capacity (`kind` created at `site`).
    pub(crate) fn new(
        permits: usize,
        resource: ResourceId,
        kind: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        Self {
            available: permits,
            gate: if resource.explored() { EXPLORED } else { 0 },
            waiters: WaitQueue::new(resource, kind, site),
            holder: None,
        }
    }

    /// The ledger of a lock or semaphore, which knows who holds permits.
    pub(crate) fn held(
        permits: usize,
        resource: ResourceId,
        kind: &'static str,
        site: &'static Location<'static>,
    ) -> Self {
        let holder = waits::holder();
        let mut ledger = Self::new(permits, resource, kind, site);
        ledger.waiters = ledger.waiters.with_holder(holder.clone());
        ledger.holder = Some(holder);
        ledger
    }

    /// The task being polled took permits (locks and semaphores call it
    /// after each acquisition; a channel's capacity has no holder).
    #[inline]
    pub(crate) fn took(&self) {
        if let Some(holder) = &self.holder {
            waits::took(holder);
        }
    }

    pub(crate) fn resource(&self) -> ResourceId {
        self.waiters.resource()
    }

    pub(crate) fn available(&self) -> usize {
        interleave::touch(self.resource());
        self.available
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        interleave::touch(self.resource());
        self.gate & CLOSED != 0
    }

    /// Takes `n` permits now, if no one is queued ahead and enough are free
    /// (a synchronous access: recorded for exploration).
    #[inline]
    pub(crate) fn try_acquire(&mut self, n: usize) -> Result<(), TryAcquireError> {
        interleave::touch(self.resource());
        self.take_now(n)
    }

    /// [`Self::try_acquire`] for [`Acquire`]'s slow path, whose scheduling
    /// point has recorded the access.
    #[inline]
    fn take_now(&mut self, n: usize) -> Result<(), TryAcquireError> {
        if self.gate & CLOSED != 0 {
            return Err(TryAcquireError::Closed);
        }
        if self.waiters.is_empty() && self.available >= n {
            self.available -= n;
            return Ok(());
        }
        Err(TryAcquireError::NoPermits)
    }

    /// [`Acquire`]'s fast path: takes `n` permits if the ledger is open, not
    /// explored, nobody is queued and enough are free. `false` sends the
    /// caller to the slow path (which starts with the scheduling point).
    #[inline]
    fn take_fast(&mut self, n: usize) -> bool {
        if self.gate == 0 && self.waiters.is_empty() && self.available >= n {
            self.available -= n;
            return true;
        }
        false
    }

    /// Removes up to `n` available permits for good; returns how many.
    pub(crate) fn forget(&mut self, n: usize) -> usize {
        interleave::touch(self.resource());
        let taken = n.min(self.available);
        self.available -= taken;
        taken
    }

    /// Adds `n` permits and hands them to waiters. Returns `true` if the
    /// wake list filled up: fire it and call [`Self::assign`] again.
    #[inline]
    fn add(&mut self, n: usize, wakes: &mut WakeList) -> bool {
        self.available = self
            .available
            .checked_add(n)
            .filter(|total| *total <= MAX_PERMITS)
            .unwrap_or_else(|| panic!("a semaphore cannot hold more than {MAX_PERMITS} permits"));
        self.assign(wakes)
    }

    /// Hands available permits to waiters, in `next_waiter` order.
    #[inline]
    fn assign(&mut self, wakes: &mut WakeList) -> bool {
        while self.available > 0 {
            let Some(chosen) = self.waiters.next_waiter() else {
                break;
            };
            if wakes.is_full() {
                return true;
            }
            let need = self.waiters.chosen_data(chosen);
            let take = (need.wanted - need.assigned).min(self.available);
            need.assigned += take;
            self.available -= take;
            if need.assigned < need.wanted {
                break;
            }
            wakes.push(self.waiters.wake(chosen));
        }
        false
    }

    /// Closes: queued and future acquires fail; waiters are woken.
    fn close(&mut self, wakes: &mut WakeList) -> bool {
        interleave::touch(self.resource());
        self.gate |= CLOSED;
        self.waiters.wake_all(wakes)
    }

    /// Polls an acquisition of `wanted` permits whose registration lives in
    /// `key`. On `Ready` the registration is gone.
    #[inline]
    pub(crate) fn poll_acquire(
        &mut self,
        cx: &mut Context<'_>,
        wanted: usize,
        key: &mut Option<WaitKey>,
        wakes: &mut WakeList,
    ) -> Poll<Result<(), AcquireError>> {
        match key {
            None => match self.take_now(wanted) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(TryAcquireError::Closed) => Poll::Ready(Err(AcquireError(()))),
                Err(TryAcquireError::NoPermits) => {
                    // First in line: start collecting what is free now.
                    let assigned = if self.waiters.is_empty() {
                        std::mem::take(&mut self.available)
                    } else {
                        0
                    };
                    *key = Some(
                        self.waiters
                            .register(Some(cx.waker()), Need { wanted, assigned }),
                    );
                    Poll::Pending
                }
            },
            Some(k) => {
                if !self.waiters.is_woken(k) {
                    self.waiters.set_waker(k, cx.waker());
                    return Poll::Pending;
                }
                let removed = self.waiters.remove(key.take().expect("checked above"));
                if removed.data.assigned == removed.data.wanted {
                    return Poll::Ready(Ok(()));
                }
                // Woken by `close` before being served: give back what it got.
                self.add(removed.data.assigned, wakes);
                Poll::Ready(Err(AcquireError(())))
            }
        }
    }

    /// An acquisition was abandoned: returns whatever it had been given.
    pub(crate) fn cancel(&mut self, key: WaitKey, wakes: &mut WakeList) -> bool {
        let removed = self.waiters.remove(key);
        self.add(removed.data.assigned, wakes)
    }
}

/// Returns `n` permits to a ledger (waking whoever they go to): an unlock,
/// a dropped permit. Recorded for exploration.
#[inline]
pub(crate) fn release(permits: &RefCell<Permits>, n: usize) {
    release_inner(permits, n, true);
}

/// [`release`] by a caller that has already recorded its access to the
/// ledger's resource in this poll (a channel receive, after its scheduling
/// point).
#[inline]
pub(crate) fn release_touched(permits: &RefCell<Permits>, n: usize) {
    release_inner(permits, n, false);
}

#[inline(always)]
fn release_inner(permits: &RefCell<Permits>, n: usize, touch: bool) {
    {
        // Fast path, every uncontended unlock and every channel receive:
        // nobody to hand permits to.
        let mut ledger = permits.borrow_mut();
        if touch {
            interleave::touch(ledger.resource());
        }
        let total = ledger.available + n;
        if ledger.waiters.is_empty() && total <= MAX_PERMITS {
            ledger.available = total;
            return;
        }
    }
    release_slow(permits, n);
}

#[inline(never)]
fn release_slow(permits: &RefCell<Permits>, n: usize) {
    let mut wakes = WakeList::new();
    let mut more = permits.borrow_mut().add(n, &mut wakes);
    wakes.wake_all();
    while more {
        more = permits.borrow_mut().assign(&mut wakes);
        wakes.wake_all();
    }
}

/// Closes a ledger, waking every waiter (their acquisitions fail).
pub(crate) fn close(permits: &RefCell<Permits>) {
    let mut wakes = WakeList::new();
    loop {
        let more = permits.borrow_mut().close(&mut wakes);
        wakes.wake_all();
        if !more {
            break;
        }
    }
}

/// Future acquiring `wanted` permits from a ledger; dropping it before it
/// completes returns anything already handed to it.
///
/// Its poll is the scheduling point of every operation built on it
/// (`Semaphore::acquire*`, `Mutex::lock*`, `RwLock::read*`/`write*`, bounded
/// `mpsc` sends and reservations): those must not add a point of their own.
pub(crate) struct Acquire<'a> {
    permits: &'a RefCell<Permits>,
    wanted: usize,
    key: Option<WaitKey>,
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(permits: &'a RefCell<Permits>, wanted: usize) -> Self {
        Self {
            permits,
            wanted,
            key: None,
        }
    }
}

impl Acquire<'_> {
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        // The point may wake this task: not while the ledger is borrowed.
        let resource = self.permits.borrow().resource();
        ready!(interleave::point(cx, resource));
        let mut wakes = WakeList::new();
        let result =
            self.permits
                .borrow_mut()
                .poll_acquire(cx, self.wanted, &mut self.key, &mut wakes);
        wakes.wake_all();
        result
    }

    #[inline(never)]
    fn cancel(&mut self, key: WaitKey) {
        let mut wakes = WakeList::new();
        let mut more = self.permits.borrow_mut().cancel(key, &mut wakes);
        wakes.wake_all();
        while more {
            more = self.permits.borrow_mut().assign(&mut wakes);
            wakes.wake_all();
        }
    }
}

impl Future for Acquire<'_> {
    type Output = Result<(), AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Fast path: free permits and nobody queued ahead (never taken
        // under exploration, see `take_fast`).
        if this.key.is_none() && this.permits.borrow_mut().take_fast(this.wanted) {
            return Poll::Ready(Ok(()));
        }
        this.poll_slow(cx)
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cancel(key);
        }
    }
}

/// The largest number of permits a semaphore can hold (tokio's limit).
pub const MAX_PERMITS: usize = usize::MAX >> 3;

/// Counts permits that tasks acquire and release (tokio's
/// `Semaphore`).
///
/// Waiters are served first-in, first-out: a task asking for many permits
/// keeps its place, collecting released permits until it has all it asked
/// for, and no later request overtakes it. Each waiting task is a wait point
/// the simulation can observe; the waiting order is the deterministic FIFO.
///
/// Deviation from tokio: the owned variants take `Rc<Semaphore>` instead of
/// `Arc<Semaphore>` (simulations are single-threaded).
pub struct Semaphore {
    permits: RefCell<Permits>,
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore with `permits` permits. Panics above [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore cannot hold more than {MAX_PERMITS} permits (asked for {permits})"
        );
        Self {
            permits: RefCell::new(Permits::held(
                permits,
                ResourceId::next(),
                "semaphore",
                Location::caller(),
            )),
        }
    }

    /// Permits that can be acquired right now.
    pub fn available_permits(&self) -> usize {
        self.permits.borrow().available()
    }

    /// Adds `n` permits, handing them to waiters first-in, first-out.
    /// Panics if the total would exceed [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        release(&self.permits, n);
    }

    /// Removes up to `n` available permits; returns how many were removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        self.permits.borrow_mut().forget(n)
    }

    /// Waits for one permit. Fails only if the semaphore is closed.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits, keeping its place in line while it collects
    /// them. Fails only if the semaphore is closed.
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        Acquire::new(&self.permits, n as usize).await?;
        self.permits.borrow().took();
        Ok(SemaphorePermit {
            semaphore: self,
            permits: n as usize,
        })
    }

    /// Takes one permit if one is free and nobody is waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let mut permits = self.permits.borrow_mut();
        permits.try_acquire(n as usize)?;
        permits.took();
        drop(permits);
        Ok(SemaphorePermit {
            semaphore: self,
            permits: n as usize,
        })
    }

    /// [`Self::acquire`] returning a permit that owns the semaphore.
    pub async fn acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// [`Self::acquire_many`] returning a permit that owns the semaphore.
    pub async fn acquire_many_owned(
        self: Rc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        Acquire::new(&self.permits, n as usize).await?;
        self.permits.borrow().took();
        Ok(OwnedSemaphorePermit {
            semaphore: self,
            permits: n as usize,
        })
    }

    /// [`Self::try_acquire`] returning a permit that owns the semaphore.
    pub fn try_acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// [`Self::try_acquire_many`] returning a permit that owns the semaphore.
    pub fn try_acquire_many_owned(
        self: Rc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let mut permits = self.permits.borrow_mut();
        permits.try_acquire(n as usize)?;
        permits.took();
        drop(permits);
        Ok(OwnedSemaphorePermit {
            semaphore: self,
            permits: n as usize,
        })
    }

    /// Closes the semaphore: waiting and future acquisitions fail with
    /// [`AcquireError`]; permits already held stay valid.
    pub fn close(&self) {
        close(&self.permits);
    }

    /// Whether [`Self::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.permits.borrow().is_closed()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let permits = self.permits.borrow();
        f.debug_struct("Semaphore")
            .field("resource", &permits.resource())
            .field("permits", &permits.available())
            .field("waiting", &permits.waiting())
            .field("closed", &permits.is_closed())
            .finish()
    }
}

/// Permits borrowed from a [`Semaphore`]; returned when dropped.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: usize,
}

impl<'a> SemaphorePermit<'a> {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Absorbs `other`'s permits. Panics if it is from another semaphore.
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            std::ptr::eq(self.semaphore, other.semaphore),
            "merging permits of different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit, if this holds at least `n`.
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(Self {
            semaphore: self.semaphore,
            permits: n,
        })
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            release(&self.semaphore.permits, self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits of an `Rc<Semaphore>`; returned when dropped.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    semaphore: Rc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits belong to.
    pub fn semaphore(&self) -> &Rc<Semaphore> {
        &self.semaphore
    }

    /// Absorbs `other`'s permits. Panics if it is from another semaphore.
    #[track_caller]
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            Rc::ptr_eq(&self.semaphore, &other.semaphore),
            "merging permits of different semaphores"
        );
        self.permits += std::mem::take(&mut other.permits);
    }

    /// Splits `n` permits off into a new permit, if this holds at least `n`.
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(Self {
            semaphore: self.semaphore.clone(),
            permits: n,
        })
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            release(&self.semaphore.permits, self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// The semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(pub(crate) ());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why a `try_acquire` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are free, or other tasks are waiting first.
    NoPermits,
}

impl TryAcquireError {
    /// Whether the semaphore was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }

    /// Whether there were not enough permits.
    pub fn is_no_permits(&self) -> bool {
        matches!(self, Self::NoPermits)
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("semaphore closed"),
            Self::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}
