//! Wakers that are task indices.
//!
//! A waker's data word packs the task's slab index, a generation taken from
//! the task id (so a stale waker cannot wake a task that reused the slot) and
//! the simulation's id on this thread. Cloning copies the word, dropping does
//! nothing, waking pushes the index onto the ready queue: no `Arc`, no
//! allocation, no atomic operation.

use super::current;
use std::task::{RawWaker, RawWakerVTable, Waker};

#[cfg(target_pointer_width = "64")]
mod layout {
    pub const INDEX_BITS: u32 = 32;
    pub const GEN_BITS: u32 = 16;
    pub const SIM_BITS: u32 = 16;
}

#[cfg(not(target_pointer_width = "64"))]
mod layout {
    pub const INDEX_BITS: u32 = 22;
    pub const GEN_BITS: u32 = 6;
    pub const SIM_BITS: u32 = 4;
}

use layout::*;

const INDEX_MASK: usize = (1usize << INDEX_BITS) - 1;
const GEN_MASK: usize = (1usize << GEN_BITS) - 1;
const SIM_MASK: usize = (1usize << SIM_BITS) - 1;

/// The largest number of tasks alive at once in one simulation.
pub(crate) const MAX_TASKS: usize = INDEX_MASK;

/// The generation stored in a waker for a task with this id.
#[inline]
pub(crate) fn generation(task_id: u64) -> u32 {
    (task_id as usize & GEN_MASK) as u32
}

/// The id a simulation carries inside its wakers.
#[inline]
pub(crate) fn sim_tag(sim_id: usize) -> usize {
    sim_id & SIM_MASK
}

#[inline]
fn pack(sim: usize, index: usize, generation: u32) -> usize {
    debug_assert!(index <= INDEX_MASK);
    index
        | ((generation as usize & GEN_MASK) << INDEX_BITS)
        | (sim_tag(sim) << (INDEX_BITS + GEN_BITS))
}

#[inline]
fn unpack(data: usize) -> (usize, usize, u32) {
    let index = data & INDEX_MASK;
    let generation = ((data >> INDEX_BITS) & GEN_MASK) as u32;
    let sim = (data >> (INDEX_BITS + GEN_BITS)) & SIM_MASK;
    (sim, index, generation)
}

/// Creates the waker for task `index` of simulation `sim`.
#[inline]
pub(crate) fn waker(sim: usize, index: usize, generation: u32) -> Waker {
    let data = pack(sim, index, generation) as *const ();
    // SAFETY: the vtable functions below never dereference `data`; it is an
    // integer carried in a pointer-sized slot.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

/// The task index behind `waker`, if it is a task waker of simulation `sim`.
pub(crate) fn task_of(waker: &Waker, sim: usize) -> Option<usize> {
    if !std::ptr::eq(waker.vtable(), &VTABLE) {
        return None;
    }
    let (tag, index, _) = unpack(waker.data() as usize);
    (tag == sim_tag(sim)).then_some(index)
}

/// Wakes `waker` from inside simulation `sim`: a task waker of that
/// simulation queues its task directly (no thread-local lookup, no call
/// through the vtable); any other waker is woken the usual way.
#[inline]
pub(crate) fn wake_in(executor: &super::Executor, sim: usize, waker: Waker) {
    if std::ptr::eq(waker.vtable(), &VTABLE) {
        let (tag, index, generation) = unpack(waker.data() as usize);
        if tag == sim_tag(sim) {
            executor.wake(index, generation);
            return;
        }
    }
    waker.wake()
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn drop_waker(_: *const ()) {}

fn wake(data: *const ()) {
    let (sim, index, generation) = unpack(data as usize);
    let woke = current::with(|current| match current {
        Some((executor, id)) if sim_tag(id) == sim => {
            executor.wake(index, generation);
            true
        }
        _ => false,
    });
    if !woke {
        wake_slow(sim, index, generation);
    }
}

#[cold]
fn wake_slow(sim: usize, index: usize, generation: u32) {
    if !current::thread_hosted_simulation() {
        panic!(
            "a bach task waker was used on an OS thread that runs no bach simulation. \
             bach simulations are single-threaded: wake tasks from the simulation's own \
             thread (use bach::sync channels instead of OS threads)"
        );
    }
    // Woken from test code between steps, or by another simulation's task on
    // this thread. A simulation that has already ended ignores the wake.
    if let Some(owner) = current::lookup(sim) {
        owner.executor().wake(index, generation);
    }
}
