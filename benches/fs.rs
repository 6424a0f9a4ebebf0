//! Simulated storage (`bach::fs`):
//!
//! * `fs_write_sync`: 1000 rounds of a 4 KiB `write_all` and `sync_data`
//!   on one file of a node's disk, in one simulation (time per round). The
//!   file is a ring of 64 blocks (a seek to the start every 64 rounds), so
//!   the rounds past the first ring cover the same bytes, as a preallocated
//!   log segment does; `tests/fs_alloc.rs` checks that they allocate
//!   nothing. turmoil 0.7's simulated file system runs the same loop in
//!   `benches/peers` (same group).
//! * `fs_crash_points`: the explorer with values enumerated
//!   (`Explorer::new().enumerate_values(true)`) run to completion over a
//!   workload of 100 appended 4 KiB writes, each followed by `sync_data`,
//!   on a disk with one crash point (`crash_points: 1`): one execution
//!   without a crash and one per crash point (the file's creation, each
//!   write, each sync). Time per execution, that is per crash point tried.
//!
//! Run with `cargo bench --bench fs`.

use bach::{
    check::Explorer,
    ext::*,
    fs::{self, DiskOptions, File},
};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::io::SeekFrom;

const BLOCK: usize = 4096;
const ROUNDS: u64 = 1000;
const RING: u64 = 64;
const CRASH_WORKLOAD_WRITES: u64 = 100;

/// `ROUNDS` write+sync rounds on node `db`'s disk.
fn write_sync() {
    bach::sim(|| {
        async {
            let mut file = File::create("/log").await.unwrap();
            let block = [7u8; BLOCK];
            for round in 0..ROUNDS {
                if round % RING == 0 {
                    file.seek(SeekFrom::Start(0)).await.unwrap();
                }
                file.write_all(&block).await.unwrap();
                file.sync_data().await.unwrap();
            }
        }
        .group("db")
        .primary()
        .spawn();
    });
}

/// The body the crash-point search explores: 100 synced appends on a disk
/// with one crash point.
fn synced_appends() {
    fs::set_disk(
        "db",
        DiskOptions {
            crash_points: 1,
            ..DiskOptions::default()
        },
    )
    .unwrap();
    async {
        let mut file = File::create("/log").await.unwrap();
        let block = [7u8; BLOCK];
        for _ in 0..CRASH_WORKLOAD_WRITES {
            file.write_all(&block).await.unwrap();
            file.sync_data().await.unwrap();
        }
    }
    .group("db")
    .spawn();
}

/// Every crash point of [`synced_appends`], both outcomes; the number of
/// executions.
fn crash_points() -> u64 {
    let report = Explorer::new()
        .enumerate_values(true)
        .progress(false)
        .run(synced_appends);
    assert!(report.complete(), "{report}");
    report.executions()
}

fn write_sync_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fs_write_sync");
    group.throughput(Throughput::Elements(ROUNDS));
    group.bench_function(BenchmarkId::new("bach", ROUNDS), |b| b.iter(write_sync));
    group.finish();
}

fn crash_points_bench(c: &mut Criterion) {
    let executions = crash_points();
    // No crash, or a crash after the creation, any write or any sync.
    assert_eq!(executions, 2 * CRASH_WORKLOAD_WRITES + 2);
    let mut group = c.benchmark_group("fs_crash_points");
    group.throughput(Throughput::Elements(executions));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("bach", CRASH_WORKLOAD_WRITES), |b| {
        b.iter(crash_points)
    });
    group.finish();
}

criterion_group!(benches, write_sync_bench, crash_points_bench);

#[path = "common/count.rs"]
mod count;

fn main() {
    if count::run(&[
        ("fs_write_sync", &write_sync),
        ("fs_crash_points", &|| {
            crash_points();
        }),
    ]) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
