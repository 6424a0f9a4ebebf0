//! Exploration throughput: executions per second of a 10-task contention
//! workload under bach's random, PCT and depth-first strategies, beside
//! shuttle's `check_random`, `check_pct` and `check_dfs` on the same
//! workload (10 threads instead of tasks).
//!
//! The workload: 10 workers each take one shared lock 3 times to increment
//! a counter; the body asserts the final count. Every lock acquisition is a
//! scheduling point in both tools. Each criterion iteration runs
//! `EXECUTIONS` executions; throughput is per execution.
//!
//! Run with `cargo bench --bench explore`.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use std::rc::Rc;

const WORKERS: u32 = 10;
const ROUNDS: u32 = 3;
const EXECUTIONS: u64 = 200;

fn contention_ours() {
    use bach::ext::*;
    let counter = Rc::new(bach::sync::Mutex::new(0u32));
    for _ in 0..WORKERS {
        let counter = counter.clone();
        async move {
            for _ in 0..ROUNDS {
                *counter.lock().await += 1;
            }
        }
        .spawn();
    }
    async move {
        1.ms().sleep().await;
        assert_eq!(*counter.lock().await, WORKERS * ROUNDS);
    }
    .primary()
    .spawn();
}

fn contention_shuttle() {
    use shuttle::sync::{Arc, Mutex};
    let counter = Arc::new(Mutex::new(0u32));
    let handles: Vec<_> = (0..WORKERS)
        .map(|_| {
            let counter = counter.clone();
            shuttle::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    *counter.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*counter.lock().unwrap(), WORKERS * ROUNDS);
}

fn explore(c: &mut Criterion) {
    use bach::check::{Explorer, Strategy};
    let mut group = c.benchmark_group("explore_contention");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(EXECUTIONS));
    group.bench_function("bach_random", |b| {
        b.iter(|| {
            let report = Explorer::new()
                .strategy(Strategy::Random(EXECUTIONS))
                .run(contention_ours);
            assert_eq!(report.executions(), EXECUTIONS);
        })
    });
    group.bench_function("shuttle_random", |b| {
        b.iter(|| shuttle::check_random(contention_shuttle, EXECUTIONS as usize))
    });
    group.bench_function("bach_pct", |b| {
        b.iter(|| {
            let report = Explorer::new()
                .strategy(Strategy::Pct(3))
                .max_executions(EXECUTIONS)
                .run(contention_ours);
            assert_eq!(report.executions(), EXECUTIONS);
        })
    });
    group.bench_function("shuttle_pct", |b| {
        b.iter(|| shuttle::check_pct(contention_shuttle, EXECUTIONS as usize, 3))
    });
    group.bench_function("bach_dfs", |b| {
        b.iter(|| {
            let report = Explorer::new()
                .strategy(Strategy::Dfs)
                .max_executions(EXECUTIONS)
                .run(contention_ours);
            assert_eq!(report.executions(), EXECUTIONS);
        })
    });
    group.bench_function("shuttle_dfs", |b| {
        b.iter(|| shuttle::check_dfs(contention_shuttle, Some(EXECUTIONS as usize)))
    });
    group.finish();
}

criterion_group!(benches, explore);
criterion_main!(benches);
