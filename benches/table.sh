#!/usr/bin/env bash
# One command for the side-by-side performance table: runs every bench
# workload on bach and on its peers (the published bach 0.2, turmoil,
# madsim, AnySystem, shuttle), then writes the Markdown table of medians
# and ratios to benches/RESULTS.md and into README.md (between the
# bench-table markers).
#
#   benches/table.sh                   # everything, ~12 minutes on 2 cores
#   BENCH_SECONDS=2 benches/table.sh   # shorter measurements, noisier
#   benches/table.sh --table-only      # rebuild the table from the last run
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CRITERION_HOME="$root/target/criterion"
seconds=${BENCH_SECONDS:-5}
args=(--warm-up-time 1 --measurement-time "$seconds")

if [ "${1:-}" != "--table-only" ]; then
    # One run's results only: a stale figure must not reach the table.
    rm -rf "$CRITERION_HOME"
    cargo bench --bench runtime --bench sync --bench net --bench process \
        --bench explore --bench model_check --bench fs -- "${args[@]}"
    # madsim simulates only when built with --cfg madsim; its own target
    # directory keeps that flag away from the workspace's build.
    (cd benches/peers &&
        RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$root/target/peers" \
            cargo bench --bench peers -- "${args[@]}")
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
machine="Medians from one \`benches/table.sh\` run on $(date -u +%Y-%m-%d): \
${cpu:-unknown CPU}, $(nproc) cores, $(rustc --version | cut -d' ' -f1-2), every crate built with \
fat LTO and one codegen unit (the bench profile). \
Each cell is time per item; a peer's ratio is how many times longer it takes than bach."
cargo run --quiet --release -p bench-table -- \
    --criterion "$CRITERION_HOME" --machine "$machine" \
    --out benches/RESULTS.md --readme README.md
echo "wrote benches/RESULTS.md and the table in README.md"
