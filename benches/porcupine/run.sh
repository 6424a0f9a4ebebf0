#!/usr/bin/env bash
# bach's linearizability checker side by side with Porcupine
# (github.com/anishathalye/porcupine, v1.3.0) on the same histories.
#
#   benches/porcupine/run.sh
#   PORCUPINE_DIR=/path/to/porcupine benches/porcupine/run.sh   # no network
#
# 1. `BENCH_EXPORT=<dir> cargo bench --bench linearizability` writes the
#    bench's histories as JSON and times bach on each, with one thread and
#    with all (see benches/linearizability.rs).
# 2. main.go (this folder) checks the same files with Porcupine's
#    CheckOperations, timed the same way, with GOMAXPROCS=1 and unset.
# 3. Both medians are printed side by side.
#
# Go comes from Debian's package (golang-go, Go 1.19 on bookworm), installed
# if missing; Porcupine v1.3.0 builds with it. Porcupine is fetched through
# the Go module proxy, or taken from a local checkout of that version when
# PORCUPINE_DIR is set. When neither Go nor Porcupine can be had, the script
# says so, prints bach's figures and the commands that would run Porcupine,
# and exits 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=benches/porcupine
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "exporting histories and timing bach (cargo bench --bench linearizability)..." >&2
BENCH_EXPORT="$work/histories" cargo bench --bench linearizability >"$work/bach.txt"

show_bach() {
    awk '{ printf "%-22s %8s threads %10.3f ms  %s\n", $1, $2, $3 / 1e6, $4 }' "$work/bach.txt"
}

give_up() {
    echo "run.sh: $1" >&2
    echo "run.sh: Porcupine was not run; bach's figures:" >&2
    show_bach
    cat >&2 <<EOF

To run Porcupine where Go and the module (or a checkout) are available:
  BENCH_EXPORT=/tmp/histories cargo bench --bench linearizability
  cd $here && go mod tidy && GOMAXPROCS=1 go run . /tmp/histories && go run . /tmp/histories
(or, with a local checkout of Porcupine v1.3.0:
  go mod edit -replace github.com/anishathalye/porcupine=/path/to/porcupine, then the same)
EOF
    exit 0
}

if ! command -v go >/dev/null; then
    echo "run.sh: installing Go from Debian's packages (golang-go)..." >&2
    { apt-get update -qq && apt-get install -y -qq golang-go; } >&2 ||
        give_up "cannot install golang-go (apt-get failed)"
fi

cp "$here/main.go" "$here/go.mod" "$work/"
cd "$work"
if [ -n "${PORCUPINE_DIR:-}" ]; then
    go mod edit -replace "github.com/anishathalye/porcupine=$PORCUPINE_DIR"
    GOFLAGS=-mod=mod go build -o porcupine-bench . >&2 ||
        give_up "cannot build against PORCUPINE_DIR=$PORCUPINE_DIR (is it a checkout of v1.3.0?)"
else
    timeout 120 go mod tidy 2>"$work/go-mod.log" || {
        cat "$work/go-mod.log" >&2
        give_up "cannot fetch github.com/anishathalye/porcupine v1.3.0 through the Go module proxy (no network to it?). Set PORCUPINE_DIR to a local checkout of v1.3.0 to use that instead."
    }
    go build -o porcupine-bench . >&2 || give_up "cannot build the Porcupine program"
fi

echo "timing Porcupine..." >&2
all=$(nproc)
GOMAXPROCS=1 ./porcupine-bench histories | sed 's/^\([^ ]*\) /\1 1 /' >porcupine.txt
if [ "$all" != 1 ]; then
    GOMAXPROCS=$all ./porcupine-bench histories | sed "s/^\\([^ ]*\\) /\\1 $all /" >>porcupine.txt
fi

[ -s porcupine.txt ] || give_up "the Porcupine program printed nothing"

# Join on (history, threads): bach.txt and porcupine.txt lines are
# `<name> <threads> <median ns> <verdict> <runs>`.
awk 'NR == FNR { theirs[$1 " " $2] = $3; their_verdict[$1 " " $2] = $4; next }
     FNR == 1 { printf "%-22s %7s %12s %17s %8s  %s\n", "history", "threads", "bach", "porcupine", "ratio", "verdicts (bach/porcupine)" }
     { key = $1 " " $2
       printf "%-22s %7s %9.3f ms %14.3f ms %7.1fx  %s/%s\n", $1, $2, $3 / 1e6, theirs[key] / 1e6,
              theirs[key] / $3, $4, (key in their_verdict) ? their_verdict[key] : "missing" }' \
    porcupine.txt bach.txt
