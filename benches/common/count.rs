//! Instruction counting: `BENCH_COUNT=<workload>` makes a bench binary run
//! that one workload `BENCH_COUNT_RUNS` times (default 1) and exit, without
//! criterion, so `valgrind --tool=callgrind` counts just its instructions.
//! The per-run cost is the difference between two counts:
//!
//! ```text
//! BENCH_COUNT=process_pingpong valgrind --tool=callgrind target/release/deps/process-… --bench
//! BENCH_COUNT=process_pingpong BENCH_COUNT_RUNS=2 valgrind --tool=callgrind …
//! ```
//!
//! `benches/instructions.sh` does both for every counted workload.

/// Runs the workload `BENCH_COUNT` names, if set, and says whether it did;
/// panics naming the known workloads if it names none of them.
pub fn run(workloads: &[(&str, &dyn Fn())]) -> bool {
    let Ok(name) = std::env::var("BENCH_COUNT") else {
        return false;
    };
    let runs: u32 = match std::env::var("BENCH_COUNT_RUNS") {
        Ok(runs) => runs
            .parse()
            .unwrap_or_else(|_| panic!("BENCH_COUNT_RUNS=`{runs}` is not a count")),
        Err(_) => 1,
    };
    let Some((_, workload)) = workloads.iter().find(|(known, _)| *known == name) else {
        let known: Vec<_> = workloads.iter().map(|(known, _)| *known).collect();
        panic!("BENCH_COUNT=`{name}` names no workload of this bench (known: {known:?})");
    };
    for _ in 0..runs {
        workload();
    }
    true
}
