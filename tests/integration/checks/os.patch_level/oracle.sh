#!/bin/sh
# os.patch_level against real apt: the pending and security updates posturectl reports must be
# what `apt-get -s upgrade` says on the same root (DESIGN.md §6).
#
# usage: oracle.sh POSTURECTL SCENARIO EXPECTED_STATUS
#   SCENARIO: a gen_apt_root.py scenario (a generated root, apt confined to it), or "host" (this
#   machine, plain `apt-get -s upgrade` with its real configuration, posturectl without --root).
#   EXPECTED_STATUS: the check's status with max_list_age = 0 (the generated lists are old on
#   purpose), or "any".
#
# Compared (jq on posturectl's JSON, apt_oracle.py on apt's output):
#   pending_updates          == "N upgraded" + "J not upgraded"
#   pending_security_updates == the number of those whose candidate comes from a security suite
#   security_packages        == the first 50 of those names, sorted
# Exits 77 when a tool is missing (fails instead under CI=...).
set -eu
bin=$1
scenario=$2
expect=$3
here=$(cd "$(dirname "$0")" && pwd)

skip() {
    if [ -n "${CI:-}" ]; then
        echo "oracle.sh: $* (CI: failing instead of skipping)" >&2
        exit 1
    fi
    echo "oracle.sh: SKIP: $*"
    exit 77
}
for t in apt-get apt-cache jq python3 lz4; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is missing"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[check.os.patch_level]\nmax_list_age = 0\n' >"$tmp/agent.conf"

if [ "$scenario" = host ]; then
    [ -r /var/lib/dpkg/status ] || skip "this machine is not a dpkg system"
    python3 "$here/apt_oracle.py" >"$tmp/apt.json"
    set -- check --json --only os.patch_level --config "$tmp/agent.conf"
else
    python3 "$here/gen_apt_root.py" --scenario "$scenario" "$tmp/root"
    python3 "$here/apt_oracle.py" --root "$tmp/root" --work "$tmp" >"$tmp/apt.json"
    set -- check --json --only os.patch_level --root "$tmp/root" --config "$tmp/agent.conf"
fi
rc=0
"$bin" "$@" >"$tmp/our.json" 2>"$tmp/our.err" || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ] && [ "$rc" -ne 3 ]; then
    cat "$tmp/our.err" >&2
    echo "oracle.sh: posturectl exited with $rc" >&2
    exit 1
fi

fail=0
check() { # what ours apt
    if [ "$2" != "$3" ]; then
        echo "oracle.sh: $scenario: $1: posturectl says $2, apt says $3" >&2
        fail=1
    else
        echo "oracle.sh: $scenario: $1: $2"
    fi
}
ev='.checks[] | select(.id == "os.patch_level") | .evidence'
check package_manager "$(jq -r "$ev.package_manager" "$tmp/our.json")" dpkg
check pending_updates "$(jq -r "$ev.pending_updates" "$tmp/our.json")" \
    "$(jq -r '.pending' "$tmp/apt.json")"
check pending_security_updates "$(jq -r "$ev.pending_security_updates" "$tmp/our.json")" \
    "$(jq -r '.security | length' "$tmp/apt.json")"
check security_packages "$(jq -c "$ev.security_packages" "$tmp/our.json")" \
    "$(jq -c '.security[:50]' "$tmp/apt.json")"
status=$(jq -r '.checks[] | select(.id == "os.patch_level") | .status' "$tmp/our.json")
if [ "$expect" != any ]; then
    check status "$status" "$expect"
fi
if [ "$status" = error ] && [ "$scenario" != host ]; then
    echo "oracle.sh: $scenario: the check could not decide: $(jq -r '.checks[0].reason' "$tmp/our.json")" >&2
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    echo "--- posturectl" >&2
    jq . "$tmp/our.json" >&2
    echo "--- apt" >&2
    cat "$tmp/apt.json" >&2
fi
exit "$fail"
