//! A steady loop of 4 KiB writes, each followed by `sync_data`, on one
//! file of a node's disk allocates nothing once the file has reached its
//! size. Its own test binary: the allocation counter is process-wide.

use bach::{
    ext::*,
    fs::{self, DiskOptions, File},
};
use bach_workspace::alloc_counter::{thread_allocations, Counting};
use std::{cell::Cell, io::SeekFrom, rc::Rc};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BLOCK: usize = 4096;
/// The file is a ring of this many blocks: the writes cover the same
/// bytes again and again, as a preallocated log segment.
const RING: u64 = 64;

/// Allocations made by `ops` write+sync rounds after `warm_up` rounds,
/// on a disk with `options` (`None`: the node never sets any).
fn allocations_in_steady_state(options: Option<DiskOptions>, warm_up: u64, ops: u64) -> u64 {
    let made = Rc::new(Cell::new(None));
    let out = made.clone();
    bach::sim(move || {
        if let Some(options) = options {
            fs::set_disk("db", options).unwrap();
        }
        async move {
            let mut file = File::create("/log").await.unwrap();
            let block = [7u8; BLOCK];
            let mut before = 0;
            for round in 0..warm_up + ops {
                if round == warm_up {
                    before = thread_allocations();
                }
                if round % RING == 0 {
                    file.seek(SeekFrom::Start(0)).await.unwrap();
                }
                file.write_all(&block).await.unwrap();
                file.sync_data().await.unwrap();
            }
            out.set(Some(thread_allocations() - before));
        }
        .group("db")
        .primary()
        .spawn();
    });
    made.get().expect("the loop ran")
}

#[test]
fn write_and_sync_allocate_nothing_in_steady_state() {
    for options in [None, Some(DiskOptions::default())] {
        let made = allocations_in_steady_state(options.clone(), 2 * RING, 1000);
        assert_eq!(
            made, 0,
            "allocations in 1000 rounds of write_all + sync_data ({options:?})"
        );
    }
}

#[test]
fn crash_points_that_are_not_taken_allocate_nothing() {
    // Each write and sync draws whether the node crashes there.
    let options = DiskOptions {
        crash_points: 1,
        crash_probability: 1e-9,
        ..DiskOptions::default()
    };
    let made = allocations_in_steady_state(Some(options), 2 * RING, 1000);
    assert_eq!(
        made, 0,
        "allocations in 1000 rounds with crash points armed"
    );
}
