//! Core runtime workloads, side by side with the published `bach` 0.2:
//!
//! * `spawn`: 100k tasks spawned and completed (time per task);
//! * `sleep`: one task sleeping 1 ms, 1M times in sequence (time per sleep);
//! * `timers`: 200k tasks each sleeping a pseudo-random 1..=10 000 ms
//!   (time per timer).
//!
//! `cargo bench --bench runtime` prints both crates' figures in one group per
//! workload; `Throughput::Elements` makes criterion show the per-item rate.

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

const SPAWN_TASKS: u64 = 100_000;
const SLEEPS: u64 = 1_000_000;
const TIMERS: u64 = 200_000;

/// Delays shared by both crates, from a fixed-seed SplitMix64.
fn timer_delays() -> Vec<Duration> {
    let mut state = 0x5eed_u64;
    (0..TIMERS)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            Duration::from_millis(1 + z % 10_000)
        })
        .collect()
}

fn spawn_ours() {
    bach::sim(|| {
        for _ in 0..SPAWN_TASKS {
            bach::spawn(async {});
        }
    })
}

fn sleep_ours() {
    bach::sim(|| {
        bach::spawn(bach::task::primary(async {
            for _ in 0..SLEEPS {
                bach::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    })
}

fn timers_ours(delays: &[Duration]) {
    bach::sim(|| {
        for delay in delays {
            let delay = *delay;
            bach::spawn(async move { bach::time::sleep(delay).await });
        }
    })
}

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn");
    group.throughput(Throughput::Elements(SPAWN_TASKS));
    group.bench_function(BenchmarkId::new("bach", SPAWN_TASKS), |b| {
        b.iter(spawn_ours)
    });
    group.bench_function(BenchmarkId::new("bach-0.2", SPAWN_TASKS), |b| {
        b.iter(|| {
            bach02::sim(|| {
                for _ in 0..SPAWN_TASKS {
                    bach02::spawn(async {});
                }
            })
        })
    });
    group.finish();
}

fn sleep(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep");
    group.throughput(Throughput::Elements(SLEEPS));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("bach", SLEEPS), |b| b.iter(sleep_ours));
    group.bench_function(BenchmarkId::new("bach-0.2", SLEEPS), |b| {
        b.iter(|| {
            bach02::sim(|| {
                bach02::spawn(bach02::task::primary::create(async {
                    for _ in 0..SLEEPS {
                        bach02::time::sleep(Duration::from_millis(1)).await;
                    }
                }));
            })
        })
    });
    group.finish();
}

fn timers(c: &mut Criterion) {
    let delays = timer_delays();
    let mut group = c.benchmark_group("timers");
    group.throughput(Throughput::Elements(TIMERS));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("bach", TIMERS), |b| {
        b.iter(|| timers_ours(&delays))
    });
    group.bench_function(BenchmarkId::new("bach-0.2", TIMERS), |b| {
        b.iter(|| {
            bach02::sim(|| {
                for delay in &delays {
                    let delay = *delay;
                    bach02::spawn(async move { bach02::time::sleep(delay).await });
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, spawn, sleep, timers);

#[path = "common/count.rs"]
mod count;

fn main() {
    let delays = timer_delays();
    if count::run(&[
        ("spawn", &spawn_ours),
        ("sleep", &sleep_ours),
        ("timers", &|| timers_ours(&delays)),
    ]) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
