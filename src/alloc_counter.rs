//! A global allocator that counts allocations, for tests and benches that
//! prove hot paths do not allocate.
//!
//! ```
//! use bach_workspace::alloc_counter::{allocations, Counting};
//!
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//!
//! let before = allocations();
//! let v = vec![1u8; 16];
//! assert!(allocations() > before);
//! # drop(v);
//! ```

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicU64, Ordering},
};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (const, no
    /// destructor: safe to touch from inside the allocator).
    static THREAD_LIVE: Cell<i64> = const { Cell::new(0) };
    /// Allocations (including reallocations) made by this thread.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn thread_add(bytes: i64) {
    let _ = THREAD_LIVE.try_with(|live| live.set(live.get() + bytes));
}

fn thread_count() {
    let _ = THREAD_ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

/// Counts every allocation and reallocation, then defers to the system.
pub struct Counting;

// SAFETY: defers every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        thread_add(layout.size() as i64);
        thread_count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        thread_add(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        thread_add(layout.size() as i64);
        thread_count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        thread_add(new_size as i64 - layout.size() as i64);
        thread_count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes this thread allocated minus those it freed, since it started:
/// unlike [`live_bytes`], blind to other threads (test threads starting
/// and ending next to a measurement).
pub fn thread_live_bytes() -> i64 {
    THREAD_LIVE.try_with(Cell::get).unwrap_or(0)
}

/// Allocations (including reallocations) made by this thread so far.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// Bytes currently allocated by the whole process.
pub fn live_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Allocations (including reallocations) made so far by the whole process.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
