#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# posturectl check --only time.sync on this machine: "synchronized" and the verdict must agree
# with independent readings of the kernel clock (adjtimex() through python3 ctypes, and
# timedatectl when systemd runs); clocksource with sysfs; time_daemons with ps.
# Arguments: POSTURECTL FIXTURE_DIR (tests/fixtures/roots/time.sync).
# shellcheck source=../../lib.sh
. "$(dirname "$0")/../../lib.sh"

# adjtimex(modes = 0) from python: prints "<synchronized 0|1> <maxerror> <status> <state>".
oracle() {
    python3 - <<'PY'
import ctypes

class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("rest", ctypes.c_char * 256)]

libc = ctypes.CDLL(None, use_errno=True)
t = Timex()
state = libc.adjtimex(ctypes.byref(t))
if state < 0:
    raise SystemExit("adjtimex: errno %d" % ctypes.get_errno())
STA_UNSYNC, TIME_ERROR = 0x40, 5
sync = not (t.status & STA_UNSYNC) and state != TIME_ERROR
print(int(sync), t.maxerror, t.status, state)
PY
}

# Read the oracle around the check and retry once if the clock changed state meanwhile.
for attempt in 1 2; do
    before=$(oracle) || { fail "python3 could not call adjtimex"; finish; }
    run check --json --only time.sync --config "$empty_conf"
    after=$(oracle)
    [ "${before%% *}" = "${after%% *}" ] && break
    echo "the clock changed state during attempt $attempt: '$before' then '$after'"
done
# shellcheck disable=SC2086 # split the four numbers into $1..$4
set -- $before
want_sync=$1
want_maxerror=$2
want_bool=$([ "$want_sync" = 1 ] && echo true || echo false)

expect_valid_json "$out" "check --json --only time.sync"
cp "$out" "$tmp/host.json"
h=$tmp/host.json
expect_json "$h" '.checks | length' 1 "one result"
expect_json "$h" '.checks[0].id' '"time.sync"' "the result is time.sync"
expect_json "$h" '.checks[0].evidence.synchronized' "$want_bool" \
    "synchronized agrees with adjtimex() read by python3 ($before)"
if [ "$want_sync" = 1 ]; then
    expect_jq "$h" '.checks[0].status == "pass" or .checks[0].status == "warn"' \
        "a synchronised clock passes or warns"
    expect_status 0 "exit status of a pass or warn"
    expect_jq "$h" '.checks[0].evidence.max_error_us >= 0 and .checks[0].evidence.max_error_us <= 16000000' \
        "max_error_us within the kernel's bound"
else
    expect_json "$h" '.checks[0].status' '"fail"' "an unsynchronised clock fails"
    expect_status 1 "exit status of a failing check"
    expect_jq "$h" '.checks[0].remediation | length > 20' "a failure carries a remediation"
    expect_jq "$h" '(.checks[0].evidence.status / 64 | floor) % 2 == 1' "status has STA_UNSYNC"
    if [ "$want_maxerror" = 16000000 ]; then
        expect_json "$h" '.checks[0].evidence.max_error_us' 16000000 \
            "max_error_us is the kernel's 16 s cap, as python3 read it"
    fi
fi
expect_jq "$h" '.checks[0].reason | contains("--root") | not' "no --root remark on the host"

# systemd's view, when it runs: NTPSynchronized is its own adjtimex() reading.
if [ -d /run/systemd/system ] && command -v timedatectl >/dev/null 2>&1; then
    ntp=$(timedatectl show -p NTPSynchronized --value 2>/dev/null || true)
    case $ntp in
    yes) expect_json "$h" '.checks[0].evidence.synchronized' true "timedatectl says NTPSynchronized=yes" ;;
    no) expect_json "$h" '.checks[0].evidence.synchronized' false "timedatectl says NTPSynchronized=no" ;;
    *) echo "timedatectl gave no answer ('$ntp'), not compared" ;;
    esac
else
    echo "systemd is not running: timedatectl not compared"
fi

cs=/sys/devices/system/clocksource/clocksource0/current_clocksource
if [ -r "$cs" ]; then
    expect_json "$h" '.checks[0].evidence.clocksource' "$(json_str "$(cat "$cs")")" "clocksource as sysfs says"
fi

# Time daemons as ps sees them (comm names, as the check reads them). The check lists the
# managed ones (systemd units, pid files) when it finds any, else all: a subset of what ps sees,
# and empty exactly when ps sees none.
if command -v ps >/dev/null 2>&1; then
    want=$(ps -e -o comm= | sed -n -e 's/^chronyd$/chronyd/p' -e 's/^systemd-timesyn$/systemd-timesyncd/p' \
        -e 's/^ntpd$/ntpd/p' -e 's/^phc2sys$/phc2sys/p' -e 's/^ptp4l$/ptp4l/p' \
        -e 's/^timemaster$/timemaster/p' -e 's/^htpdate$/htpdate/p' | sort -u | jq -R . | jq -sc .)
    # shellcheck disable=SC2016 # $ps and $d are jq variables
    expect_jq "$h" "$want"' as $ps | .checks[0].evidence.time_daemons as $d
        | ($d - $ps) == [] and (($d | length) > 0) == (($ps | length) > 0)' \
        "time daemons agree with ps ($want)"
fi

# With --root the clock is still the running kernel's, and the reason says so; the daemons come
# from the root's /proc.
run check --json --only time.sync --config "$empty_conf" --root "$fixtures/chrony"
expect_valid_json "$out" "check --json --only time.sync --root chrony"
expect_json "$out" '.checks[0].evidence.synchronized' "$want_bool" "synchronized with --root"
expect_jq "$out" '.checks[0].reason | endswith("(the running kernel'"'"'s clock: --root does not apply to it)")' \
    "the reason says --root does not apply"
expect_json "$out" '.checks[0].evidence.time_daemons' '["chronyd"]' "daemons from the root's /proc"
expect_json "$out" '.checks[0].evidence.clocksource' '"tsc"' "clocksource from the root's sysfs"

finish
