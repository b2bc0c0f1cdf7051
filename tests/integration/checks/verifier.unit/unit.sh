#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# verifier.unit/<case>: packaging/systemd/posture-verifier.service (posture-verifier(8)).
#   unit      systemd-analyze verify is clean (ExecStart pointed at the built binary, the
#             Documentation= man pages found in packaging/man); systemd-analyze security
#             --offline=yes gives an exposure of at most 2.0 (issue 8), printed with what is
#             not granted away; the gate is shown to fail on a copy without the sandbox; the
#             identity and lifecycle settings are there (no capability, Type=notify, SIGHUP
#             reload); posture-verifier.sysusers creates the unit's user (systemd-sysusers
#             --dry-run in an empty root)
#   syscalls  a serve under strace -f, as an unprivileged user (nobody when run as root: as
#             root SQLite and the key writer fchown their files, which the unit never does),
#             with the default [tls] paths (a self-signed pair made in the state directory):
#             start-up, a software-tier enrolment, a submission, /metrics, a SIGHUP reload and
#             SIGTERM. Every system call in the trace must pass the unit's SystemCallFilter=
#             (syscall_filter.py, groups from systemd-analyze syscall-filter); the checker is
#             shown to refuse a trace with a call outside it
# Usage: unit.sh CASE POSTURE_VERIFIER POSTURECTL SOURCE_DIR. Exits 77 when a tool is missing
# (outside CI; in CI that is a failure).
set -u

case_name=$1
PV=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") # absolute: the unit's ExecStart= needs it
CTL=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
src=$4
name="verifier.unit/$case_name"
here=$(cd "$(dirname "$0")" && pwd)
unit=$src/packaging/systemd/posture-verifier.service
py=/usr/bin/python3

missing() {
    if [ "${CI:-}" = true ]; then
        echo "$name: FAIL: $1 is not installed"
        exit 1
    fi
    echo "$name: SKIP: $1 is not installed"
    exit 77
}
for t in systemd-analyze "$py"; do
    command -v "$t" >/dev/null 2>&1 || missing "$t"
done
unset POSTURE_LOG_LEVEL JOURNAL_STREAM NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verifier-unit.XXXXXX")
PIDS=
cleanup() {
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in $PIDS; do
        wait "$p" 2>/dev/null
    done
    [ -n "${VERIFIER_UNIT_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}
pass() { echo "ok: $*"; }
show() { # FILE
    echo "  --- $1:" >&2
    sed -n '1,60s/^/  | /p' "$1" >&2
}

# exposure FILE: the overall exposure systemd-analyze security --offline=yes gives the unit
exposure() {
    systemd-analyze security --offline=yes "$1" >"$1.security" 2>&1
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$1.security"
}
# gate VALUE: true when the exposure is at most 2.0 (issue 8)
gate() {
    [ -n "$1" ] && "$py" -c "import sys; sys.exit(0 if $1 <= 2.0 else 1)"
}

case "$case_name" in
unit)
    mkdir -p "$tmp/unit" "$tmp/man/man5" "$tmp/man/man8"
    sed "s|^ExecStart=/usr/bin/posture-verifier |ExecStart=$PV |" "$unit" \
        >"$tmp/unit/posture-verifier.service"
    grep -q "^ExecStart=$PV serve\$" "$tmp/unit/posture-verifier.service" ||
        fail "ExecStart not found"
    # verify runs man(1) for every Documentation=man: page
    cp "$src"/packaging/man/*.5 "$tmp/man/man5/" && cp "$src"/packaging/man/*.8 "$tmp/man/man8/" ||
        fail "packaging/man: no pages"
    if MANPATH=$tmp/man systemd-analyze verify "$tmp/unit/posture-verifier.service" \
        >"$tmp/verify.out" 2>&1 && [ ! -s "$tmp/verify.out" ]; then
        pass "systemd-analyze verify: clean"
    else
        fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
    fi

    e=$(exposure "$tmp/unit/posture-verifier.service")
    echo "systemd-analyze security --offline=yes: exposure $e; not granted away:"
    grep '✗' "$tmp/unit/posture-verifier.service.security" | sed 's/  */ /g; s/^/  /'
    gate "$e" && pass "exposure $e (at most 2.0)" || fail "exposure '$e' is above 2.0"

    # The gate fails where it should: the same unit without its sandbox (identity kept).
    sed '/^# ---- capabilities/,/^\[Install\]/{/^\[Install\]/!d}' \
        "$tmp/unit/posture-verifier.service" >"$tmp/unit/bare.service"
    e_bare=$(exposure "$tmp/unit/bare.service")
    if [ -n "$e_bare" ] && ! gate "$e_bare"; then
        pass "without the sandbox the exposure is $e_bare and the gate fails"
    else
        fail "the gate did not fail on the unit without its sandbox (exposure '$e_bare')"
    fi

    for want in 'User=posture-verifier' 'Group=posture-verifier' 'Type=notify' \
        'ExecReload=/bin/kill -HUP $MAINPID' 'CapabilityBoundingSet=$' 'AmbientCapabilities=$' \
        'NoNewPrivileges=yes' 'ProtectSystem=strict' 'StateDirectory=posture-verifier$' \
        'StateDirectoryMode=0700' 'ConfigurationDirectory=posture$' 'PrivateUsers=yes' \
        'SystemCallFilter=@system-service' 'RestartPreventExitStatus=2'; do
        grep -q "^$want" "$unit" || fail "the unit lacks $want"
    done
    if grep -E '^(Ambient)?Capabilit[a-zA-Z]*=.' "$unit"; then
        fail "the unit grants a capability"
    else
        pass "no capability granted"
    fi

    if command -v systemd-sysusers >/dev/null 2>&1; then
        mkdir -p "$tmp/root/etc"
        if systemd-sysusers --dry-run --root="$tmp/root" \
            "$src/packaging/systemd/posture-verifier.sysusers" >"$tmp/sysusers.out" 2>&1 &&
            grep -q "Creating user 'posture-verifier'" "$tmp/sysusers.out"; then
            pass "posture-verifier.sysusers creates the user posture-verifier"
        else
            fail "systemd-sysusers: $(cat "$tmp/sysusers.out")"
        fi
    else
        missing systemd-sysusers
    fi
    ;;
syscalls)
    for t in strace curl openssl setpriv; do
        command -v "$t" >/dev/null 2>&1 || missing "$t"
    done
    W=$tmp
    # shellcheck source=../../../lib/verifier.sh
    . "$src/tests/lib/verifier.sh"
    cd "$W" || exit 1
    AP=$(vt_free_port)
    GP=$(vt_free_port)
    mkdir -p state policies out
    cp "$src/packaging/policies/baseline.json" policies/
    # the default [tls] cert and key: tls.crt and tls.key, made in state_dir
    cat >verifier.conf <<EOC
[verifier]
state_dir = $W/state
trust_domain = test.example
[listen]
agents = 127.0.0.1:$AP
gateways = 127.0.0.1:$GP
[policy]
dir = $W/policies
default = baseline
EOC
    as_user=
    if [ "$(id -u)" -eq 0 ]; then
        chmod 0755 "$W"
        chown 65534:65534 state out
        as_user="setpriv --reuid=65534 --regid=65534 --clear-groups --"
    fi
    # LeakSanitizer cannot work under ptrace (a sanitizer build): leaks are other tests' job
    ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
        $as_user strace -f -qq -o "$W/out/trace" "$PV" serve --config "$W/verifier.conf" \
        >>"$W/verifier.log" 2>&1 &
    spid=$!
    PIDS="$PIDS $spid"
    vt_wait_http "http://127.0.0.1:$GP/healthz" || {
        show "$W/verifier.log"
        fail "serve did not start under strace"
        exit 1
    }
    vpid=$(sed -n '1s/^\([0-9]*\) .*/\1/p' "$W/out/trace")
    [ -n "$vpid" ] || fail "no process in the trace"
    [ -s state/tls.crt ] && [ -s state/tls.key ] &&
        pass "the self-signed TLS pair made in the state directory" ||
        fail "no tls.crt and tls.key in the state directory"
    "$PV" ca --config "$W/verifier.conf" >"$W/verifier-ca.pem" 2>"$W/ca.err" ||
        fail "posture-verifier ca: $(cat "$W/ca.err")"
    if vt_enrol dev1; then
        pass "a device enrolled"
    else
        fail "enrolment: $(cat "$W/dev1.err")"
    fi
    "$CTL" submit --config "$W/dev1.conf" >"$W/submit.out" 2>&1
    rc=$?
    [ $rc -le 1 ] && pass "a submission appraised (exit $rc)" || {
        show "$W/submit.out"
        fail "submit: exit $rc"
    }
    curl -sf -o /dev/null "http://127.0.0.1:$GP/metrics" || fail "/metrics"
    kill -HUP "$vpid"
    i=0
    until grep -q 'SIGHUP: reloaded' "$W/verifier.log" || [ $i -ge 50 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    grep -q 'SIGHUP: reloaded' "$W/verifier.log" && pass "reloaded at SIGHUP" ||
        fail "no reload at SIGHUP"
    kill -TERM "$vpid"
    wait "$spid" # strace exits with the status of the process it traced
    rc=$?
    PIDS=
    [ $rc -eq 0 ] && pass "serve stopped at SIGTERM (exit 0)" ||
        fail "serve exited $rc at SIGTERM: $(tail -n 3 "$W/verifier.log")"

    if "$py" "$here/syscall_filter.py" "$unit" "$W/out/trace" >"$W/filter.out" 2>&1; then
        pass "every system call passes the unit's SystemCallFilter="
        sed 's/^/  /' "$W/filter.out"
    else
        show "$W/filter.out"
        fail "a system call outside the unit's SystemCallFilter="
    fi
    # the checker itself: a call the unit refuses (reboot, @reboot) is caught
    { head -n 5 "$W/out/trace" && echo "$vpid reboot(LINUX_REBOOT_MAGIC1) = -1 EPERM"; } \
        >"$W/bad.trace"
    "$py" "$here/syscall_filter.py" "$unit" "$W/bad.trace" >"$W/bad.out" 2>&1
    [ $? -eq 1 ] && grep -q 'refused by the filter: reboot' "$W/bad.out" &&
        pass "the checker refuses a trace with reboot()" ||
        fail "the checker let reboot() through: $(cat "$W/bad.out")"
    ;;
*)
    echo "$name: unknown case" >&2
    exit 2
    ;;
esac

[ $failures -eq 0 ] || exit 1
echo "$name: all passed"
