#!/usr/bin/env bash
# Checks that tshark reads a capture written by examples/ping_pong.rs: no
# warning on stderr or in the expert info (checksums validated), the UDP
# payloads decoded ("ping" 70696e67, "pong" 706f6e67), and the node names
# from the name resolution block shown ("server", "client_0").
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tshark >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y tshark
    else
        echo "tshark-check: tshark is not installed and this is not root" >&2
        exit 1
    fi
fi

out=$(cargo run --quiet --example ping_pong)
printf '%s\n' "$out"
capture=$(printf '%s\n' "$out" | sed -n 's/^capture: //p')
if [ -z "$capture" ] || [ ! -s "$capture" ]; then
    echo "tshark-check: the example printed no capture path, or the file is empty" >&2
    exit 1
fi

fail() {
    echo "tshark-check: $*" >&2
    exit 1
}

# tshark's notice about running as root is about the user, not the file.
strip_root_notice() { grep -v '^Running as user "root"' || true; }

err=$(mktemp)
trap 'rm -f "$err"' EXIT

summary=$(tshark -r "$capture" -N n \
    -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE 2>"$err")
warnings=$(strip_root_notice <"$err")
[ -z "$warnings" ] || fail "tshark warned reading $capture: $warnings"
printf '%s\n' "$summary"

expert=$(tshark -r "$capture" -q -z expert,warn \
    -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE 2>"$err")
warnings=$(strip_root_notice <"$err")
[ -z "$warnings" ] || fail "tshark warned reading $capture: $warnings"
if printf '%s\n' "$expert" | grep -qE '^(Errors|Warns) \('; then
    fail "expert info reports problems: $expert"
fi

payloads=$(tshark -r "$capture" -T fields -e data 2>"$err")
warnings=$(strip_root_notice <"$err")
[ -z "$warnings" ] || fail "tshark warned reading $capture: $warnings"
printf '%s\n' "$payloads" | grep -qx 70696e67 || fail "no UDP payload decoded as \"ping\""
printf '%s\n' "$payloads" | grep -qx 706f6e67 || fail "no UDP payload decoded as \"pong\""

for name in server client_0 client_1; do
    printf '%s\n' "$summary" | grep -qw "$name" || fail "node name $name not resolved"
done

echo "tshark-check: $capture reads cleanly ($(printf '%s\n' "$summary" | wc -l) packets)"
