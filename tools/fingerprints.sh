#!/usr/bin/env bash
# Fingerprints of every example's observable output, to show that a change
# kept traces and captures byte-identical: each example runs (release) with
# the trace on (BACH_TRACE=1) and captures on (BACH_PCAP_DIR), and one line
# per output gives a hash of
#   * its stdout, with the run's directory and wall-clock figures
#     (durations, rates) blanked out;
#   * its stderr (the trace), sorted: the sweeps run seeds on several
#     threads, so their lines interleave differently from run to run;
#   * its captures, as the sorted hashes of the files' contents (a sweep
#     numbers same-named files in the order its threads create them).
#
#   tools/fingerprints.sh > before.txt   # on the old commit
#   tools/fingerprints.sh > after.txt    # on the new one
#   diff before.txt after.txt            # nothing: identical
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --examples
bin="${CARGO_TARGET_DIR:-target}/release/examples"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for example in examples/*.rs; do
    name=$(basename "$example" .rs)
    dir="$out/$name"
    mkdir -p "$dir/pcaps"
    BACH_TRACE=1 BACH_PCAP_DIR="$dir/pcaps" "$bin/$name" \
        >"$dir/stdout" 2>"$dir/stderr"
    stdout=$(sed -E "s|$out|DIR|g; s|$PWD|ROOT|g; s/[0-9.]+ ?(ms|µs|s|ns)\b/T/g; s/\([0-9]+\/s\)/(R)/g; \
        s/[0-9]+ runs\/s/R/g; s/, [0-9]+\/s\)/, R)/g" "$dir/stdout" | sha256sum | cut -c1-16)
    trace=$(sort "$dir/stderr" | sha256sum | cut -c1-16)
    pcaps=$(find "$dir/pcaps" -type f -exec sha256sum {} + | cut -c1-64 | sort | sha256sum | cut -c1-16)
    echo "$name stdout $stdout trace $trace ($(wc -l <"$dir/stderr") lines)" \
        "captures $pcaps ($(find "$dir/pcaps" -type f | wc -l) files)"
done
