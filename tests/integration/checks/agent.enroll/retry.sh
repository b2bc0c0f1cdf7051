#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# agent.enroll/retry: posturectl submit against a scripted verifier (fake_verifier.py) for the
# answers the real one gives only on timing: one "use_fresh_nonce" → one retry with the nonce it
# carries (or, without one, a new challenge), and a report bound to the fresh nonce; a second
# "use_fresh_nonce" → exit 2, no third try; a captive portal's HTML → exit 2.
# Usage: retry.sh POSTURECTL SOURCE_DIR. Exits 77 when openssl or python3 is missing.
set -u
pc=$1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
name=agent.enroll/retry
for t in openssl "$py"; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "$name: SKIP: $t is not installed"
        exit 77
    }
done
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent-retry.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}
pass() { echo "ok: $*"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$tmp/srv.key" \
    -out "$tmp/srv.pem" -subj /CN=fake -addext subjectAltName=IP:127.0.0.1 2>/dev/null ||
    exit 2
mkdir -p "$tmp/state"
conf=$tmp/agent.conf
write_conf() { # PORT
    cat >"$conf" <<EOC
[agent]
state_dir = $tmp/state
[server]
url = https://127.0.0.1:$1
ca = $tmp/srv.pem
[tpm]
enabled = no
EOC
}
write_conf 1
# A device certificate for the device key (the fake verifier does not check it).
"$pc" key --config "$conf" >/dev/null 2>&1 || fail "posturectl key"
openssl req -new -x509 -key "$tmp/state/device.key" -subj /CN=dev -days 1 \
    -out "$tmp/state/device.crt" 2>/dev/null || fail "device certificate"

start() { # MODE
    rm -f "$tmp/port" "$tmp/requests"
    "$py" "$here/fake_verifier.py" "$1" "$tmp/srv.pem" "$tmp/srv.key" "$tmp/port" \
        "$tmp/requests" 2>"$tmp/fake.err" &
    pid=$!
    i=0
    while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    write_conf "$(cat "$tmp/port")"
}
stop() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}
root=$(cd "$here/../../../fixtures/roots/boot.secure_boot/sb-on" && pwd)
submit() {
    "$pc" submit --only boot.secure_boot --root "$root" --config "$conf" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
b64() { printf '%s' "$1" | openssl base64 -A | tr '+/' '-_' | tr -d '='; }

start fresh
submit
want="/v1/challenge -
/v1/posture $(b64 challenge-01-nonce-0123456789)
/v1/posture $(b64 fresh-nonce-01-0123456789abcd)"
if [ $rc = 0 ] && [ "$(cat "$tmp/requests")" = "$want" ]; then
    pass "use_fresh_nonce: one retry, bound to the fresh nonce"
else
    fail "use_fresh_nonce: exit $rc, requests: $(cat "$tmp/requests") $(cat "$tmp/err")"
fi
[ "$(cat "$tmp/state/ear.jwt")" = e30.e30.c2ln ] && pass "the EAR is stored" || fail "ear.jwt"
stop

start fresh-nononce
submit
want="/v1/challenge -
/v1/posture $(b64 challenge-01-nonce-0123456789)
/v1/challenge -
/v1/posture $(b64 challenge-02-nonce-0123456789)"
[ $rc = 0 ] && [ "$(cat "$tmp/requests")" = "$want" ] &&
    pass "use_fresh_nonce without a nonce: a new challenge" ||
    fail "use_fresh_nonce without a nonce: exit $rc, $(cat "$tmp/requests") $(cat "$tmp/err")"
stop

start fresh-always
submit
n=$(grep -c '^/v1/posture' "$tmp/requests")
[ $rc = 2 ] && [ "$n" = 2 ] && grep -q 'use_fresh_nonce' "$tmp/err" &&
    pass "use_fresh_nonce twice: exit 2 after 2 submissions" ||
    fail "use_fresh_nonce twice: exit $rc, $n submissions: $(cat "$tmp/err")"
stop

start portal
submit
[ $rc = 2 ] && grep -q 'not a JSON object' "$tmp/err" && pass "captive portal: exit 2" ||
    fail "captive portal: exit $rc: $(cat "$tmp/err")"
stop

[ $failures -eq 0 ] || exit 1
echo "$name: all passed"
