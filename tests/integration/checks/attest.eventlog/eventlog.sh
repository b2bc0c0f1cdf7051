#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# posture-verifier eventlog against the fixture logs, read back with independent tools (jq,
# tpm2_eventlog, head/dd/printf for the mutations). Usage: eventlog.sh VERIFIER FIXTURE_DIR
set -u

verifier=$1
dir=$2
failures=0

command -v jq >/dev/null 2>&1 || { echo "SKIP: jq is missing"; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run EXPECTED_STATUS ARGS...: run the verifier, keep stdout in $tmp/out, check the status.
run() {
    want=$1
    shift
    "$verifier" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "'$*' exited $got, expected $want: $(cat "$tmp/err")"
        return 1
    fi
    return 0
}

# 1. Every fixture: accepted, and every PCR the .expected.json computed equals ours.
for bin in "$dir"/*.bin; do
    name=$(basename "$bin" .bin)
    expected="$dir/$name.expected.json"
    run 0 eventlog --json "$bin" || continue
    jq -e . "$tmp/out" >/dev/null || { fail "$name: output is not JSON"; continue; }
    n=$(jq -n --slurpfile ours "$tmp/out" --slurpfile exp "$expected" '
        [$exp[0].computed_replay_pcrs | to_entries[] | .key as $bank | .value | to_entries[]
         | {bank: $bank, pcr: .key, want: .value}] | length')
    bad=$(jq -n --slurpfile ours "$tmp/out" --slurpfile exp "$expected" -r '
        $exp[0].computed_replay_pcrs | to_entries[] | .key as $bank | .value | to_entries[]
        | select($ours[0].pcrs[$bank][.key] != .value)
        | "\($bank) PCR \(.key): got \($ours[0].pcrs[$bank][.key]) want \(.value)"')
    [ -z "$bad" ] || fail "$name: $bad"
    [ "$n" -ge 8 ] || fail "$name: only $n PCRs compared"
    # Facts: SecureBoot, StartupLocality, ExitBootServices, authorities.
    facts=$(jq -n --slurpfile ours "$tmp/out" --slurpfile exp "$expected" -r '
        ($exp[0].secure_boot.SecureBoot_variable_data_hex_in_log) as $sb
        | (if $sb == "01" then true elif $sb == "00" then false else null end) as $want
        | [ (if $ours[0].secure_boot.enabled != $want then "secure boot" else empty end),
            (if ($ours[0].startup_locality // 0) != $exp[0].startup_locality
             then "startup locality" else empty end),
            (if $ours[0].secure_boot.exit_boot_services != $exp[0].exit_boot_services_logged
             then "exit boot services" else empty end),
            (if [$ours[0].secure_boot.authorities[].name]
                != $exp[0].secure_boot.pcr7_authority_events then "authorities" else empty end)
          ] | join(", ")')
    [ -z "$facts" ] || fail "$name: facts differ: $facts"
    echo "ok: $name ($n PCRs)"
done

# 2. Mutated copies are refused (exit 1) with their reason.
log="$dir/gce-rhel8-secureboot.bin"
size=$(wc -c <"$log")
head -c $((size - 1)) "$log" >"$tmp/truncated.bin"
if run 1 eventlog --json "$tmp/truncated.bin"; then
    [ "$(jq -r .error.reason "$tmp/out")" = event-size ] || fail "truncated: $(jq -c .error "$tmp/out")"
    [ "$(jq -r .accepted "$tmp/out")" = false ] || fail "truncated: accepted is not false"
fi
# EventSize of the Spec ID header (offset 28) set to 0x47efbfbd.
cp "$log" "$tmp/eventsize.bin"
printf '\275\277\357\107' | dd of="$tmp/eventsize.bin" bs=1 seek=28 conv=notrunc 2>/dev/null
if run 1 eventlog --json "$tmp/eventsize.bin"; then
    [ "$(jq -r .error.reason "$tmp/out")" = event-size ] || fail "eventsize: $(jq -c .error "$tmp/out")"
fi
# Record 1's PCR index set to 99.
hdr=$(( $(od -An -tu4 -j28 -N4 "$log" | tr -d ' ') + 32 ))
cp "$log" "$tmp/pcr.bin"
printf 'c' | dd of="$tmp/pcr.bin" bs=1 seek="$hdr" conv=notrunc 2>/dev/null
if run 1 eventlog --json "$tmp/pcr.bin"; then
    [ "$(jq -r .error.reason "$tmp/out")" = pcr-index-invalid ] || fail "pcr: $(jq -c .error "$tmp/out")"
    [ "$(jq -r .error.record "$tmp/out")" = 1 ] || fail "pcr: record $(jq -r .error.record "$tmp/out")"
fi
: >"$tmp/empty.bin"
run 1 eventlog "$tmp/empty.bin" && grep -q '^error: empty' "$tmp/out" || fail "empty: $(cat "$tmp/out")"
head -c 1048577 /dev/zero >"$tmp/big.bin"
run 1 eventlog --json "$tmp/big.bin" && { [ "$(jq -r .error.reason "$tmp/out")" = too-large ] || fail "big"; }

# 3. Usage: exit 2.
run 2 eventlog
run 2 eventlog "$tmp/does-not-exist.bin"
run 2 eventlog --bogus "$log"
run 2 eventlog "$log" "$log"
run 2 nosuchcommand
run 0 eventlog --help && grep -q 'Usage: posture-verifier eventlog' "$tmp/out" || fail "eventlog --help"
run 0 --help && grep -q eventlog "$tmp/out" || fail "--help lists no eventlog"
run 0 --version && grep -q '^posture-verifier ' "$tmp/out" || fail "--version"

# 4. Cross-check with tpm2_eventlog (an independent parser). tpm2-tools before 5.6 ignores
#    StartupLocality, so PCR 0 of locality-3 logs is left out; it has no SHA-1 legacy reader.
if command -v tpm2_eventlog >/dev/null 2>&1; then
    for bin in "$dir"/*.bin; do
        name=$(basename "$bin" .bin)
        case "$name" in *legacy*) continue ;; esac
        tpm2_eventlog "$bin" 2>/dev/null | awk '
            /^pcrs:/ { p = 1; next }
            p && /^  [a-z0-9]+:$/ { bank = $1; sub(":", "", bank); next }
            p && /^    [0-9]+ *:/ { v = $NF; sub("^0x", "", v); print bank, $1, v }' \
            >"$tmp/theirs"
        [ -s "$tmp/theirs" ] || { fail "$name: tpm2_eventlog printed no PCRs"; continue; }
        "$verifier" eventlog --json "$bin" 2>/dev/null | jq -r '
            (.startup_locality // 0) as $loc | .pcrs | to_entries[] | .key as $b
            | .value | to_entries[] | select(($loc == 0) or (.key != "0"))
            | "\($b) \(.key) \(.value)"' | sort >"$tmp/ours"
        if [ "$(jq -r '.startup_locality // 0' "$dir/$name.expected.json")" != 0 ]; then
            grep -v '^[a-z0-9]* 0 ' "$tmp/theirs" | sort >"$tmp/theirs.s"
        else
            sort "$tmp/theirs" >"$tmp/theirs.s"
        fi
        if cmp -s "$tmp/ours" "$tmp/theirs.s"; then
            echo "ok: $name agrees with tpm2_eventlog ($(wc -l <"$tmp/ours") PCRs)"
        else
            fail "$name: differs from tpm2_eventlog: $(diff "$tmp/ours" "$tmp/theirs.s" | head -5)"
        fi
    done
else
    echo "note: tpm2_eventlog not installed, cross-check skipped"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
