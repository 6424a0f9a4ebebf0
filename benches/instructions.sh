#!/usr/bin/env bash
# Instructions per run of the workloads that guard the hot paths, counted by
# callgrind (repeatable, unlike time on a shared machine): each workload is
# counted once with one run and once with two, and the difference is one
# run's cost without the process's start-up. Built with the bench profile
# (fat LTO), as benches/table.sh measures.
#
#   benches/instructions.sh            # process_pingpong, udp_stream, mesh_10, model_check_depth_8,
#                                      # model_check_parallel_bfs_1
#   benches/instructions.sh --all      # and spawn, sleep, timers, channel, mutex, fs_write_sync
#   BENCH_PROFILE=user benches/instructions.sh --all
#
# The first four guard the issue-level budgets, the fifth the breadth-first
# model checker (`par_run_with` on one thread); `--all` adds the runtime,
# sync and storage workloads, for changes to the executor, the timer queue,
# `sync` or `fs`.
# `BENCH_PROFILE=user` builds as a user's `cargo build --release` does (no
# LTO, 16 codegen units; in target/user-profile): an inlining mark that fat
# LTO makes needless can still matter there, so judge marks in both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }
pairs=(process:process_pingpong net:udp_stream net:mesh_10 model_check:model_check_depth_8
    model_check:model_check_parallel_bfs_1)
if [ "${1:-}" = "--all" ]; then
    pairs+=(runtime:spawn runtime:sleep runtime:timers sync:channel sync:mutex fs:fs_write_sync)
fi
if [ "${BENCH_PROFILE:-}" = user ]; then
    export CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/user-profile}"
fi
cargo bench --no-run --bench process --bench net --bench model_check --bench runtime --bench sync \
    --bench fs 2>/dev/null
binary() { ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/"$1"-* | grep -v '\.d$' | head -n 1; }
count() { # bench workload runs -> instructions
    local out
    out=$(mktemp)
    BENCH_COUNT=$2 BENCH_COUNT_RUNS=$3 valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$(binary "$1")" --bench >/dev/null 2>&1
    sed -n 's/^summary: //p' "$out"
    rm -f "$out"
}
printf '%-22s %16s\n' workload "instructions/run"
for pair in "${pairs[@]}"; do
    bench=${pair%%:*} workload=${pair#*:}
    one=$(count "$bench" "$workload" 1)
    two=$(count "$bench" "$workload" 2)
    printf '%-22s %16s\n' "$workload" "$((two - one))"
done
