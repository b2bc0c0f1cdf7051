#!/bin/sh
# Footprint of `posturectl check` (DESIGN.md §10: ≤ 30 ms CPU, ≤ 16 MB max RSS; stripped binary
# ≤ 1 MB). Prints figures; asserts nothing (benchmarks are never timed tests).
#
# CPU: GNU time over a loop of RUNS invocations minus the same loop running /bin/true, divided by
# RUNS (a single run is below GNU time's 10 ms resolution). Max RSS: the largest of the runs.
#
# usage: check_footprint.sh BUILD_DIR [RUNS]
set -eu
build=$1
runs=${2:-200}
bin="$build/agent/cli/posturectl"
[ -x "$bin" ] || { echo "check_footprint.sh: $bin not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "check_footprint.sh: /usr/bin/time missing (package time)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/empty.conf"

strip -o "$tmp/posturectl" "$bin"
size=$(stat -c %s "$tmp/posturectl")

loop='i=0; while [ $i -lt "$1" ]; do "$2" check --json --config "$3" >/dev/null 2>&1; i=$((i+1)); done'
/usr/bin/time -f '%U %S' -o "$tmp/cpu" sh -c "$loop" sh "$runs" "$bin" "$tmp/empty.conf" || true
/usr/bin/time -f '%U %S' -o "$tmp/base" sh -c "$loop" sh "$runs" /bin/true "$tmp/empty.conf" || true
for i in 1 2 3 4 5; do
    /usr/bin/time -f '%M' -a -o "$tmp/rss" "$bin" check --json --config "$tmp/empty.conf" >/dev/null 2>&1 || true
done

cpu=$(awk '{ print ($1 + $2) * 1000 }' "$tmp/cpu")
base=$(awk '{ print ($1 + $2) * 1000 }' "$tmp/base")
rss=$(sort -n "$tmp/rss" | tail -n 1)
awk -v cpu="$cpu" -v base="$base" -v runs="$runs" -v rss="$rss" -v size="$size" 'BEGIN {
    printf "bench posturectl check: %d runs, CPU %.2f ms per run (user+sys, loop overhead subtracted), ", runs, (cpu - base) / runs
    printf "max RSS %d KiB, stripped posturectl %d bytes\n", rss, size
}'
