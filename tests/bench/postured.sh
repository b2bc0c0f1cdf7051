#!/bin/sh
# Footprint of postured (DESIGN.md §10: idle ≤ 12 MB VmRSS, ≤ 4 MB anonymous, flat during a
# verifier outage; stripped binaries ≤ 1 MB) against a real `posture-verifier serve` with a
# software-tier enrolment. Prints figures; asserts nothing (benchmarks are never timed tests).
#
#   - stripped postured and posturectl sizes;
#   - VmRSS and RssAnon of the running daemon ([schedule] interval = 10s, every check) after
#     IDLE seconds of cycles, and again after IDLE seconds with the verifier down (spooling,
#     backing off);
#   - CPU per cycle (user+sys of `postured --once`, every check, minus a loop of /bin/true),
#     over RUNS cycles: software tier, and with swtpm (tests/lib/swtpm.sh) a hardware-tier
#     enrolment whose every cycle quotes the TPM (skipped when swtpm is missing). The swtpm
#     process's own CPU is not counted.
#
# usage: postured.sh BUILD_DIR [IDLE_SECONDS] [RUNS]   (DESIGN.md asks for 600 s; default 30)
set -eu
build=$1
idle=${2:-30}
runs=${3:-20}
pd=$build/agent/daemon/postured
pc=$build/agent/cli/posturectl
pv=$build/verifier/posture-verifier
py=/usr/bin/python3
top=$(cd "$(dirname "$0")/../.." && pwd)
for b in "$pd" "$pc" "$pv"; do
    [ -x "$b" ] || { echo "postured.sh: $b not built" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "postured.sh: /usr/bin/time missing (package time)" >&2; exit 1; }
unset POSTURE_LOG_LEVEL JOURNAL_STREAM NOTIFY_SOCKET WATCHDOG_USEC || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-postured.XXXXXX")
vpid=
dpid=
cleanup() {
    command -v swtpm_stop >/dev/null 2>&1 && swtpm_stop
    for p in $dpid $vpid; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [ -n "${BENCH_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
agents_port=$(free_port)
gw_port=$(free_port)
mkdir -p "$tmp/vstate" "$tmp/state"
cat >"$tmp/verifier.conf" <<EOF
[verifier]
state_dir = $tmp/vstate
trust_domain = bench.example
[listen]
agents = 127.0.0.1:$agents_port
gateways = 127.0.0.1:$gw_port
threads = 2
[tls]
cert = $tmp/vstate/tls.crt
key = $tmp/vstate/tls.key
[policy]
dir = $top/packaging/policies
EOF
start_verifier() {
    "$pv" serve --config "$tmp/verifier.conf" >>"$tmp/vlog" 2>&1 &
    vpid=$!
    i=0
    until curl -fsS -o /dev/null "http://127.0.0.1:$gw_port/healthz" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "postured.sh: the verifier did not start" >&2; cat "$tmp/vlog" >&2; exit 1; }
        sleep 0.1
    done
}
stop_verifier() {
    kill -TERM "$vpid" 2>/dev/null || true
    wait "$vpid" 2>/dev/null || true
    vpid=
}
start_verifier
"$pv" ca --config "$tmp/verifier.conf" >"$tmp/ca.pem"
cat >"$tmp/agent.conf" <<EOF
[agent]
state_dir = $tmp/state
[server]
url = https://127.0.0.1:$agents_port
[tpm]
enabled = no
[schedule]
interval = 10s
EOF
tok=$("$pv" token create --config "$tmp/verifier.conf" 2>/dev/null)
"$pc" enroll --server "https://127.0.0.1:$agents_port" --token "$tok" --ca "$tmp/ca.pem" \
    --config "$tmp/agent.conf" >/dev/null 2>&1 || { echo "postured.sh: enrolment failed" >&2; exit 1; }

strip -o "$tmp/postured.stripped" "$pd"
strip -o "$tmp/posturectl.stripped" "$pc"
echo "bench postured: stripped postured $(stat -c %s "$tmp/postured.stripped") bytes, posturectl $(stat -c %s "$tmp/posturectl.stripped") bytes"

mem() { # LABEL
    awk -v label="$1" '/^VmRSS:/ { rss = $2 } /^RssAnon:/ { anon = $2 }
        END { printf "bench postured: %s: VmRSS %d KiB, RssAnon %d KiB\n", label, rss, anon }' \
        "/proc/$dpid/status"
    # where the resident pages are: the largest mappings (file-backed ones are shared)
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anonymous]" : $6 }
        /^Rss:/ { rss[name] += $2 }
        END { for (n in rss) if (rss[n] >= 256) printf "%d %s\n", rss[n], n }' \
        "/proc/$dpid/smaps" | sort -rn | head -n 8 |
        awk '{ printf "%s%s %d KiB", (NR > 1 ? ", " : "bench postured:   largest: "), $2, $1 } END { print "" }' |
        sed 's|/usr/lib/x86_64-linux-gnu/||g'
}
"$pd" --config "$tmp/agent.conf" >"$tmp/pd.log" 2>&1 &
dpid=$!
sleep "$idle"
mem "after ${idle} s of cycles ($(sqlite3 "$tmp/vstate/store.db" 'SELECT count(*) FROM appraisals' 2>/dev/null || echo '?') delivered)"
stop_verifier
sleep "$idle"
spooled=$(ls "$tmp/state/spool" | grep -c '\.sub$' || true)
mem "after ${idle} s of verifier outage ($spooled spooled)"
start_verifier
kill -TERM "$dpid"
wait "$dpid" || true
dpid=

loop='i=0; while [ $i -lt "$1" ]; do "$2" --once --config "$3" >/dev/null 2>&1; i=$((i+1)); done'
/usr/bin/time -f '%U %S' -o "$tmp/base" sh -c "$loop" sh "$runs" /bin/true "$tmp/agent.conf" || true
cpu_per_cycle() { # CONF LABEL
    /usr/bin/time -f '%U %S' -o "$tmp/cpu" sh -c "$loop" sh "$runs" "$pd" "$1" || true
    awk -v runs="$runs" -v label="$2" -v cpu="$(awk '{ print ($1 + $2) * 1000 }' "$tmp/cpu")" \
        -v base="$(awk '{ print ($1 + $2) * 1000 }' "$tmp/base")" 'BEGIN {
        printf "bench postured: CPU per cycle %.1f ms (postured --once, every check, %s; %d runs)\n",
            (cpu - base) / runs, label, runs
    }'
}
cpu_per_cycle "$tmp/agent.conf" "no TPM"

# With the TPM: swtpm, its EK chain trusted by the verifier, a hardware-tier enrolment.
. "$top/tests/lib/swtpm.sh"
if swtpm_start >/dev/null 2>&1; then
    trap cleanup EXIT INT TERM # swtpm_start sets its own; ours calls swtpm_stop
    stop_verifier
    mkdir -p "$tmp/ek-roots" "$tmp/tstate"
    cp "$SWTPM_CA_ROOT" "$tmp/ek-roots/root.pem"
    cp "$SWTPM_CA_ISSUER" "$tmp/ek-roots/issuer.pem"
    printf '[enroll]\nek_roots = %s\n' "$tmp/ek-roots" >>"$tmp/verifier.conf"
    start_verifier
    cat >"$tmp/agent-tpm.conf" <<EOF
[agent]
state_dir = $tmp/tstate
[server]
url = https://127.0.0.1:$agents_port
[tpm]
enabled = yes
tcti = $SWTPM_TCTI
event_log = $tmp/no-event-log
EOF
    tok=$("$pv" token create --config "$tmp/verifier.conf" 2>/dev/null)
    if "$pc" enroll --server "https://127.0.0.1:$agents_port" --token "$tok" --ca "$tmp/ca.pem" \
        --config "$tmp/agent-tpm.conf" >"$tmp/tpm-enroll.log" 2>&1; then
        "$pd" --once --config "$tmp/agent-tpm.conf" >"$tmp/tpm-once.log" 2>&1 ||
            echo "bench postured: a TPM cycle was not delivered: $(tail -n 2 "$tmp/tpm-once.log")" >&2
        cpu_per_cycle "$tmp/agent-tpm.conf" "TPM quote with swtpm"
    else
        echo "bench postured: the TPM enrolment failed: $(tail -n 1 "$tmp/tpm-enroll.log")" >&2
    fi
else
    echo "bench postured: swtpm is not available; no figure with the TPM quote"
fi
