#!/bin/sh
# Footprint of `posturectl check` (DESIGN.md §10: ≤ 30 ms CPU, ≤ 16 MB max RSS; stripped binary
# ≤ 1 MB). Prints figures; asserts nothing (benchmarks are never timed tests).
#
# usage: check_footprint.sh BUILD_DIR [RUNS]
set -eu
build=$1
runs=${2:-50}
bin="$build/agent/cli/posturectl"
[ -x "$bin" ] || { echo "check_footprint.sh: $bin not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "check_footprint.sh: /usr/bin/time missing (package time)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Stripped size, as a package would ship it.
strip -o "$tmp/posturectl" "$bin"
size=$(stat -c %s "$tmp/posturectl")

# CPU (user+sys) and max RSS per run, from GNU time; the check's exit status is not our concern.
i=0
while [ "$i" -lt "$runs" ]; do
    /usr/bin/time -f '%U %S %M' -o "$tmp/t.$i" "$bin" check --json --config /dev/null >/dev/null 2>&1 || true
    i=$((i + 1))
done
cat "$tmp"/t.* | awk -v runs="$runs" -v size="$size" '
    { cpu = ($1 + $2) * 1000; sum += cpu; if (cpu > max) max = cpu; rss += $3; if ($3 > maxrss) maxrss = $3 }
    END {
        printf "bench posturectl check: %d runs, CPU mean %.1f ms (max %.1f ms; GNU time has 10 ms resolution), ", runs, sum / runs, max
        printf "max RSS mean %.0f KiB (max %d KiB); stripped posturectl %d bytes\n", rss / runs, maxrss, size
    }'
