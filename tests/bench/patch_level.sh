#!/bin/sh
# os.patch_level against apt (DESIGN.md §10: the same answer as `apt-get -s upgrade` with at
# least 50x less CPU; `posturectl check` with every built-in check at most 30 ms CPU and 16 MB
# max RSS on a 4,000-package dpkg status). Prints figures; asserts nothing (benchmarks are never
# timed tests).
#
# The root is generated (tests/integration/checks/os.patch_level/gen_apt_root.py, scenario
# "bench"): 4,000 installed packages, about 60,000 list stanzas in lz4-compressed lists (as apt
# keeps them with Acquire::GzipIndexes), a security suite, updates and backports.
#
# CPU is user+sys from GNU time over a loop of runs, minus the same loop running /bin/true,
# divided by the runs (one run can be below GNU time's 10 ms resolution). apt runs on the same
# root, confined to it (its own sources.list, lists and status, no host configuration), twice:
# without a package cache (what it does on images that set Dir::Cache::pkgcache "", and on the
# first run after every `apt-get update`), and with a warm pkgcache.bin.
#
# usage: patch_level.sh BUILD_DIR [RUNS] [APT_RUNS]
set -eu
build=$1
runs=${2:-20}
apt_runs=${3:-3}
bin="$build/agent/cli/posturectl"
here=$(cd "$(dirname "$0")" && pwd)
gen="$here/../integration/checks/os.patch_level/gen_apt_root.py"
[ -x "$bin" ] || { echo "patch_level.sh: $bin not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "patch_level.sh: /usr/bin/time missing (package time)" >&2; exit 1; }
for t in python3 lz4 apt-get jq; do
    command -v "$t" >/dev/null 2>&1 || { echo "patch_level.sh: $t missing" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
: >"$tmp/empty.conf"

t0=$(date +%s.%N)
python3 "$gen" --scenario bench --installed 4000 --stanzas 60000 "$root"
t1=$(date +%s.%N)
stanzas=0
for f in "$root"/var/lib/apt/lists/*_Packages.lz4; do
    stanzas=$((stanzas + $(lz4 -dc "$f" | grep -c '^Package:')))
done
installed=$(grep -c '^Package:' "$root/var/lib/dpkg/status")
list_bytes=$(du -cb "$root"/var/lib/apt/lists/*_Packages.lz4 | tail -n 1 | cut -f 1)

# apt, confined to the root.
printf 'Dir::Etc::parts "/dev/null";\nDir::Etc::main "/dev/null";\n' >"$tmp/apt.conf"
mkdir -p "$tmp/cache-cold" "$tmp/cache-warm"
apt_opts="-o Dir=$root/ -o Dir::State::status=$root/var/lib/dpkg/status \
-o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Architectures::=i386 \
-o Debug::NoLocking=1"
cold_opts="$apt_opts -o Dir::Cache=$tmp/cache-cold -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache="
warm_opts="$apt_opts -o Dir::Cache=$tmp/cache-warm"
export APT_CONFIG="$tmp/apt.conf"
# shellcheck disable=SC2086
apt-get -s $warm_opts upgrade >"$tmp/apt.out" 2>&1 # builds pkgcache.bin

# Loop body for sh -c: $1 runs, then the command and its arguments.
# shellcheck disable=SC2016
loop='n=$1; shift; i=0; while [ $i -lt "$n" ]; do "$@" >/dev/null 2>&1 || true; i=$((i+1)); done'
cpu_ms() { # runs command... -> total user+sys ms
    /usr/bin/time -f '%U %S' -o "$tmp/t" sh -c "$loop" sh "$@" || true
    tail -n 1 "$tmp/t" | awk '{ printf "%.1f", ($1 + $2) * 1000 }'
}
base=$(cpu_ms "$runs" /bin/true)
ours=$(cpu_ms "$runs" "$bin" check --only os.patch_level --root "$root" --config "$tmp/empty.conf")
all=$(cpu_ms "$runs" "$bin" check --root "$root" --config "$tmp/empty.conf")
apt_base=$(cpu_ms "$apt_runs" /bin/true)
# shellcheck disable=SC2086
apt_cold=$(cpu_ms "$apt_runs" apt-get -s $cold_opts upgrade)
# shellcheck disable=SC2086
apt_warm=$(cpu_ms "$apt_runs" apt-get -s $warm_opts upgrade)

rss_ours=0
rss_all=0
for _ in 1 2 3 4 5; do
    /usr/bin/time -f '%M' -o "$tmp/m1" "$bin" check --only os.patch_level --root "$root" \
        --config "$tmp/empty.conf" >/dev/null 2>&1 || true
    /usr/bin/time -f '%M' -o "$tmp/m2" "$bin" check --root "$root" --config "$tmp/empty.conf" \
        >/dev/null 2>&1 || true
    # GNU time puts "Command exited with non-zero status N" first when the check fails.
    m1=$(tail -n 1 "$tmp/m1")
    m2=$(tail -n 1 "$tmp/m2")
    [ "$m1" -gt "$rss_ours" ] && rss_ours=$m1
    [ "$m2" -gt "$rss_all" ] && rss_all=$m2
done
# shellcheck disable=SC2086
/usr/bin/time -f '%M' -o "$tmp/m3" apt-get -s $cold_opts upgrade >/dev/null 2>&1 || true
rss_apt=$(tail -n 1 "$tmp/m3")

# The answers, side by side (the oracle tests compare them; here they are only shown).
"$bin" check --json --only os.patch_level --root "$root" --config "$tmp/empty.conf" \
    >"$tmp/our.json" 2>/dev/null || true
ours_pending=$(jq -r '.checks[0].evidence.pending_updates' "$tmp/our.json")
ours_security=$(jq -r '.checks[0].evidence.pending_security_updates' "$tmp/our.json")
ours_ms=$(jq -r '.checks[0].duration_ms' "$tmp/our.json")
apt_summary=$(grep -E '^[0-9]+ upgraded' "$tmp/apt.out" || echo '?')

awk -v gen="$(echo "$t1 - $t0" | bc 2>/dev/null || echo '?')" -v inst="$installed" \
    -v stanzas="$stanzas" -v bytes="$list_bytes" -v runs="$runs" -v apt_runs="$apt_runs" \
    -v base="$base" -v ours="$ours" -v all="$all" -v apt_base="$apt_base" \
    -v apt_cold="$apt_cold" -v apt_warm="$apt_warm" -v rss_ours="$rss_ours" \
    -v rss_all="$rss_all" -v rss_apt="$rss_apt" -v op="$ours_pending" -v os="$ours_security" \
    -v oms="$ours_ms" -v aptsum="$apt_summary" 'BEGIN {
    o = (ours - base) / runs; a = (all - base) / runs
    c = (apt_cold - apt_base) / apt_runs; w = (apt_warm - apt_base) / apt_runs
    if (o <= 0) o = 0.01
    printf "bench os.patch_level: root with %d installed packages, %d list stanzas (%.1f MB lz4), generated in %s s\n", inst, stanzas, bytes / 1048576, gen
    printf "bench os.patch_level: posturectl --only os.patch_level: %.1f ms CPU per run (%d runs; the check itself %s ms wall), max RSS %d KiB; pending %s, security %s\n", o, runs, oms, rss_ours, op, os
    printf "bench os.patch_level: apt-get -s upgrade, no pkgcache: %.1f ms CPU per run (%d runs), max RSS %d KiB; %s\n", c, apt_runs, rss_apt, aptsum
    printf "bench os.patch_level: apt-get -s upgrade, warm pkgcache.bin: %.1f ms CPU per run\n", w
    printf "bench os.patch_level: ratio apt/posturectl: %.0fx (no pkgcache), %.0fx (warm pkgcache); target >= 50x\n", c / o, w / o
    printf "bench os.patch_level: posturectl check, all built-in checks, same root: %.1f ms CPU per run, max RSS %d KiB (targets <= 30 ms, <= 16384 KiB)\n", a, rss_all
}'
