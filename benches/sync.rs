//! `bach::sync` against the published `bach` 0.2 (which re-exports tokio's
//! primitives), on the same workloads, in the same criterion groups:
//!
//! * `channel`: 10M `u64` messages from one task to another through a
//!   bounded mpsc channel of 1024 slots (throughput per message);
//! * `mutex`: 8 tasks each taking a contended mutex 125k times, holding it
//!   across a yield so every acquisition waits in line (per acquisition).
//!   Every 256 rounds a task sleeps 1 µs: bach 0.2 aborts runs that stay at
//!   one instant for more than 100k scheduler passes.
//!
//! Run with `cargo bench --bench sync`.

use criterion::{criterion_group, Criterion, SamplingMode, Throughput};
use std::{cell::Cell, hint::black_box, rc::Rc};

const MESSAGES: u64 = 10_000_000;
const CAPACITY: usize = 1024;
const MUTEX_TASKS: u64 = 8;
const MUTEX_ROUNDS: u64 = 125_000;
const MUTEX_PAUSE_EVERY: u64 = 256;

fn channel_ours(messages: u64) -> u64 {
    use bach::ext::*;
    let sum = Rc::new(Cell::new(0));
    let out = sum.clone();
    bach::sim(|| {
        let (tx, mut rx) = bach::sync::mpsc::channel::<u64>(CAPACITY);
        async move {
            for i in 0..messages {
                tx.send(i).await.unwrap();
            }
        }
        .spawn();
        async move {
            let mut total = 0u64;
            while let Some(value) = rx.recv().await {
                total = total.wrapping_add(value);
            }
            out.set(total);
        }
        .primary()
        .spawn();
    });
    sum.get()
}

fn channel_peer(messages: u64) -> u64 {
    use bach02::ext::*;
    let sum = Rc::new(Cell::new(0));
    let out = sum.clone();
    bach02::sim(|| {
        let (tx, mut rx) = bach02::sync::mpsc::channel::<u64>(CAPACITY);
        async move {
            for i in 0..messages {
                tx.send(i).await.unwrap();
            }
        }
        .spawn();
        async move {
            let mut total = 0u64;
            while let Some(value) = rx.recv().await {
                total = total.wrapping_add(value);
            }
            out.set(total);
        }
        .primary()
        .spawn();
    });
    sum.get()
}

fn mutex_ours() -> u64 {
    use bach::ext::*;
    let mutex = Rc::new(bach::sync::Mutex::new(0u64));
    let result = mutex.clone();
    bach::sim(|| {
        for _ in 0..MUTEX_TASKS {
            let mutex = mutex.clone();
            async move {
                for round in 0..MUTEX_ROUNDS {
                    let mut guard = mutex.lock().await;
                    *guard += 1;
                    bach::task::yield_now().await;
                    drop(guard);
                    if round % MUTEX_PAUSE_EVERY == 0 {
                        bach::time::sleep(std::time::Duration::from_micros(1)).await;
                    }
                }
            }
            .primary()
            .spawn();
        }
    });
    let value = *result.try_lock().unwrap();
    value
}

fn mutex_peer() -> u64 {
    use bach02::ext::*;
    let mutex = std::sync::Arc::new(bach02::sync::Mutex::new(0u64));
    let result = mutex.clone();
    bach02::sim(|| {
        for _ in 0..MUTEX_TASKS {
            let mutex = mutex.clone();
            async move {
                for round in 0..MUTEX_ROUNDS {
                    let mut guard = mutex.lock().await;
                    *guard += 1;
                    bach02::task::yield_now().await;
                    drop(guard);
                    if round % MUTEX_PAUSE_EVERY == 0 {
                        bach02::time::sleep(std::time::Duration::from_micros(1)).await;
                    }
                }
            }
            .primary()
            .spawn();
        }
    });
    let value = *result.try_lock().unwrap();
    value
}

fn channel(c: &mut Criterion) {
    let expected = MESSAGES * (MESSAGES - 1) / 2;
    assert_eq!(channel_ours(MESSAGES), expected);
    assert_eq!(channel_peer(MESSAGES), expected);
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.bench_function("bach", |b| b.iter(|| black_box(channel_ours(MESSAGES))));
    group.bench_function("bach 0.2", |b| b.iter(|| black_box(channel_peer(MESSAGES))));
    group.finish();
}

fn mutex(c: &mut Criterion) {
    assert_eq!(mutex_ours(), MUTEX_TASKS * MUTEX_ROUNDS);
    assert_eq!(mutex_peer(), MUTEX_TASKS * MUTEX_ROUNDS);
    let mut group = c.benchmark_group("mutex");
    group.throughput(Throughput::Elements(MUTEX_TASKS * MUTEX_ROUNDS));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.bench_function("bach", |b| b.iter(|| black_box(mutex_ours())));
    group.bench_function("bach 0.2", |b| b.iter(|| black_box(mutex_peer())));
    group.finish();
}

criterion_group!(benches, channel, mutex);

#[path = "common/count.rs"]
mod count;

fn main() {
    if count::run(&[
        ("channel", &|| {
            channel_ours(MESSAGES);
        }),
        ("mutex", &|| {
            mutex_ours();
        }),
    ]) {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
