#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# verifier.ops/<case>: operating a running `posture-verifier serve` (docs/verifier-operations.md),
# driven with posturectl (key, report), curl (mTLS to the agent listener, X-Client-Cert to the
# gateway listener from a trusted peer), sqlite3 and the verifier's own CLI:
#   revoke   a software-tier device enrolled and appraised (/v1/authz 200) is revoked with
#            `posture-verifier devices revoke` while serve runs: /v1/authz answers 403
#            device-revoked within 2 s (polled every 50 ms; the measured latency is printed),
#            under every policy; its /v1/challenge and /v1/posture over mTLS are refused (403
#            device-revoked); serve logs it; the revoke row is in the audit log (sqlite3) and
#            `posture-verifier audit verify` passes; the device enrols again (new token, new
#            certificate) and is admitted again after its next report, while the old certificate
#            stays refused at /v1/authz
#   reload   SIGHUP: a policy changed to a rule the device fails answers 403 not-appraised until
#            the device reports, then 403 posture-failed, while the unchanged default keeps its
#            200; a broken policy file keeps the running configuration (an error naming the
#            file, serve still answers, the reload counted as failed); a bad verifier.conf value
#            likewise (file:line); a gateway peer added to [listen] trusted_gateways gets its
#            X-Client-Cert accepted, and one removed loses it; a restart-only key changed is
#            named in one log line and left as it is; [verifier] log_level, [authz] bearer and
#            the [enroll] rate limits apply
# Usage: ops.sh CASE POSTURE_VERIFIER POSTURECTL SOURCE_DIR. Outside CI, exits 77 when curl,
# openssl, sqlite3 or python3 is missing; in CI (CI=true) that is a failure.
set -u

case_name=$1
pv=$2
pctl=$3
src=$4
name="verifier.ops/$case_name"
py=/usr/bin/python3

missing() {
    if [ "${CI:-}" = true ]; then
        echo "$name: FAIL: $1 is not installed (CI must have it: .ci/install-deps)" >&2
        exit 1
    fi
    echo "$name: SKIP: $1 is not installed"
    exit 77
}
for t in curl openssl sqlite3 "$py"; do
    command -v "$t" >/dev/null 2>&1 || missing "$t"
done
"$py" -c 'import jwt, cryptography' 2>/dev/null || missing python3-jwt
LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verifier-ops.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

failures=0
fail() {
    failures=$((failures + 1))
    echo "$name: FAIL: $*" >&2
}
pass() {
    echo "$name: ok: $*"
}
show_log() {
    echo "  --- server log:" >&2
    sed -n '1,120s/^/  | /p' "$tmp/log" >&2
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now_ms() {
    "$py" -c 'import time; print(int(time.time() * 1000))'
}

ap=$(free_port)
gp=$(free_port)
conf=$tmp/verifier.conf
mkdir -p "$tmp/state" "$tmp/policies"
# write_conf TRUSTED [EXTRA-LISTEN-LINES...]: verifier.conf with these trusted gateways
write_conf() {
    trusted=$1
    shift
    {
        printf '[verifier]\nstate_dir = %s\ntrust_domain = test.example\n' "$tmp/state"
        printf '%s\n' "${log_level_line:-}"
        printf '[listen]\nagents = 127.0.0.1:%s\ngateways = 127.0.0.1:%s\n' "$ap" "$gp"
        printf 'trusted_gateways = %s\nthreads = %s\n' "$trusted" "${threads:-2}"
        for l in "$@"; do
            printf '%s\n' "$l"
        done
        printf '[tls]\ncert = %s\nkey = %s\n' "$tmp/tls.crt" "$tmp/tls.key"
        printf '[enroll]\nek_roots = %s\n%s\n' "$tmp/ek-roots" "${enroll_lines:-}"
        printf '[policy]\ndir = %s\ndefault = os-release-only\n' "$tmp/policies"
        printf '[authz]\nbearer = %s\n' "${bearer:-no}"
    } >"$conf"
}
# policy ID VERSION ID-VALUE-OP VALUE: a policy on os.release's evidence /id
policy() {
    cat >"$tmp/policies/$1.json" <<EOF
{
  "id": "$1",
  "version": "$2",
  "description": "verifier.ops test policy",
  "allow_warning": true,
  "checks": {
    "os.release": {
      "required": true,
      "remediation": "run a supported distribution",
      "decidable": [{"path": "/errno", "op": "absent"}],
      "evidence": [{"path": "/id", "op": "$3", "value": "$4"}]
    }
  }
}
EOF
}
write_conf 127.0.0.1/32
policy os-release-only 1 ne ""
policy route-b 1 ne ""

start_server() {
    "$pv" serve --config "$conf" >>"$tmp/log" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 100 ]; do
        if curl -s -o /dev/null "http://127.0.0.1:$gp/healthz" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    echo "$name: FAIL: the server did not start" >&2
    show_log
    exit 1
}
stop_server() {
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    pid=
    [ "$rc" = 0 ] || fail "serve exited with $rc after SIGTERM (ASan?)"
}

agent() {
    path=$1
    shift
    curl -sS --max-time 20 --cacert "$tmp/tls.crt" -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' \
        "$@" "https://127.0.0.1:$ap$path"
}
device() { # PATH CERT ARGS...: over mTLS with a device certificate
    path=$1
    cert=$2
    shift 2
    agent "$path" --cert "$cert" --key "$tmp/agent/device.key" "$@"
}
gateway() {
    path=$1
    shift
    curl -sS --max-time 20 -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$gp$path"
}
header() {
    tr -d '\r' <"$tmp/hdr" | sed -n "s/^$1: //Ip" | head -n 1
}
json() {
    "$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); sys.stdout.write(json.dumps(v) if not isinstance(v,str) else v)' \
        "$tmp/out" "$1" 2>/dev/null
}
expect() { # CODE GOT WHAT
    if [ "$2" != "$1" ]; then
        fail "$3: HTTP $2, expected $1: $(head -c 400 "$tmp/out" 2>/dev/null)"
        return 1
    fi
    return 0
}
expect_type() { # TYPE WHAT (the problem type in $tmp/out)
    t=$(json 'j["type"]')
    [ "$t" = "urn:posture:problem:$1" ] || fail "$2: problem type '$t', expected $1"
}

# ---- the device: key, enrolment, reports ------------------------------------------------
mkdir -p "$tmp/agent"
printf '[agent]\nstate_dir = %s\n[tpm]\nenabled = no\n' "$tmp/agent" >"$tmp/agent.conf"
root=$src/tests/fixtures/roots/os-release/debian-12

# enroll_device CERTFILE: token → POST /v1/enroll → the certificate, $kid, $xcc
enroll_device() {
    [ -f "$tmp/jwk.json" ] || "$pctl" key --jwk --config "$tmp/agent.conf" >"$tmp/jwk.json" 2>"$tmp/err" ||
        { fail "posturectl key: $(cat "$tmp/err")"; exit 1; }
    token=$("$pv" token create --config "$conf" --label ops-test 2>"$tmp/err") ||
        { fail "token create: $(cat "$tmp/err")"; exit 1; }
    # the proof of possession ("pop", docs/verifier-api.md) signed by python3-jwt
    "$py" - "$tmp/jwk.json" "$token" "$tmp/agent/device.key" >"$tmp/enroll.json" <<'PY'
import base64, hashlib, json, sys, time, jwt
from cryptography.hazmat.primitives import serialization
j = json.load(open(sys.argv[1]))
jwk = {k: j[k] for k in ("kty", "crv", "x", "y")}
key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
e = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
tok = base64.urlsafe_b64decode(sys.argv[2] + "=" * (-len(sys.argv[2]) % 4))
c = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
now = int(time.time())
pop = jwt.encode({"aud": "https://127.0.0.1", "iat": now, "exp": now + 60,
                  "token_sha256": e(hashlib.sha256(tok).digest())}, key, algorithm="ES256",
                 headers={"typ": "posture-enroll+jwt", "kid": e(hashlib.sha256(c.encode()).digest())})
print(json.dumps({"token": sys.argv[2], "jwk": jwk, "pop": pop}))
PY
    code=$(agent /v1/enroll -H 'Content-Type: application/json' --data-binary @"$tmp/enroll.json")
    expect 201 "$code" "POST /v1/enroll" || { show_log; exit 1; }
    kid=$(json 'j["device_id"]')
    json 'j["certificate"]' >"$1"
    xcc=$("$py" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$1")
}

# appraise CERTFILE: challenge → posturectl report → POST /v1/posture (201)
appraise() {
    code=$(device /v1/challenge "$1" -X POST)
    expect 200 "$code" "POST /v1/challenge" || return 1
    nonce=$(json 'j["nonce"]')
    "$pctl" report --nonce "$nonce" --root "$root" --only os.release --config "$tmp/agent.conf" \
        >"$tmp/r.jws" 2>"$tmp/err" || { fail "posturectl report: $(cat "$tmp/err")"; return 1; }
    "$py" -c 'import json,sys; print(json.dumps({"report": open(sys.argv[1]).read().strip()}))' \
        "$tmp/r.jws" >"$tmp/r.json"
    code=$(device /v1/posture "$1" -H 'Content-Type: application/json' --data-binary @"$tmp/r.json")
    expect 201 "$code" "POST /v1/posture"
}

# ---- SIGHUP: send it and wait for the outcome line ---------------------------------------
outcomes() {
    grep -cE 'SIGHUP: (reloaded|nothing reloaded|.* has errors)' "$tmp/log" 2>/dev/null || true
}
hup() {
    before=$(outcomes)
    kill -HUP "$pid"
    i=0
    while [ $i -lt 100 ]; do
        [ "$(outcomes)" -gt "$before" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    fail "no reload outcome logged within 10 s of SIGHUP"
    show_log
    return 1
}
# the log lines written since the last mark
mark() {
    wc -l <"$tmp/log" >"$tmp/mark"
}
since_mark() {
    tail -n +"$(($(cat "$tmp/mark") + 1))" "$tmp/log"
}

# ---- cases ------------------------------------------------------------------------------
case_revoke() {
    start_server
    enroll_device "$tmp/dev1.pem"
    appraise "$tmp/dev1.pem" || { show_log; exit 1; }
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz before the revocation" || { show_log; exit 1; }
    code=$(gateway '/v1/authz?policy=route-b' -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz (route-b) before the revocation" || true

    # revoke from another process while serve runs; poll the gateway decision every 50 ms
    t0=$(now_ms)
    "$pv" devices revoke "$kid" --config "$conf" >"$tmp/revoke.out" 2>&1 ||
        fail "devices revoke: $(cat "$tmp/revoke.out")"
    t1=$(now_ms)
    latency=
    while :; do
        code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
        now=$(now_ms)
        if [ "$code" != 200 ]; then
            latency=$((now - t0))
            break
        fi
        [ $((now - t0)) -gt 5000 ] && break
        sleep 0.05
    done
    if [ -z "$latency" ]; then
        fail "/v1/authz still answers 200 5 s after the revocation"
    else
        echo "$name: revocation latency: ${latency} ms from 'devices revoke' starting (it took $((t1 - t0)) ms itself) to the first /v1/authz denial"
        [ "$latency" -le 2000 ] && pass "revoked within 2 s (${latency} ms)" ||
            fail "the revocation took ${latency} ms to reach /v1/authz (more than 2 s)"
    fi
    expect 403 "$code" "authz after the revocation" && expect_type device-revoked "authz after the revocation"
    [ "$(header X-Posture-Device-Id)" = "spiffe://test.example/device/$kid" ] ||
        fail "revoked: X-Posture-Device-Id '$(header X-Posture-Device-Id)'"
    [ "$(header Cache-Control)" = no-store ] || fail "revoked: Cache-Control '$(header Cache-Control)'"
    [ -z "$(header X-Posture-Token)" ] || fail "revoked: an X-Posture-Token was sent"
    code=$(gateway '/v1/authz?policy=route-b' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "authz (route-b) after the revocation" && expect_type device-revoked "route-b"
    code=$(gateway /v1/authz/envoy/app -H "X-Client-Cert: $xcc")
    expect 403 "$code" "authz below /v1/authz/ after the revocation" || true
    grep -q "device $kid was revoked .* ms ago" "$tmp/log" && pass "serve logged the revocation" ||
        fail "serve did not log the revocation"

    # a device id is base64url: one in 64 begins with '-' and must not be read as an option
    "$pv" devices show -no-such-device --config "$conf" >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && grep -q "no device '-no-such-device'" "$tmp/err" ||
        fail "devices show -no-such-device: exit $rc: $(cat "$tmp/err")"
    "$pv" devices show --config "$conf" -- -no-such-device >/dev/null 2>"$tmp/err"
    [ $? = 1 ] || fail "devices show -- -no-such-device: $(cat "$tmp/err")"

    # the agent listener (mTLS): the certificate still chains, the device is refused
    code=$(device /v1/challenge "$tmp/dev1.pem" -X POST)
    expect 403 "$code" "/v1/challenge of a revoked device" && expect_type device-revoked "challenge"
    code=$(device /v1/posture "$tmp/dev1.pem" -H 'Content-Type: application/json' --data-binary @"$tmp/r.json")
    expect 403 "$code" "/v1/posture of a revoked device" && expect_type device-revoked "posture"
    # a fresh report (nonce of its own) is refused before the nonce is even looked at
    "$pctl" report --nonce AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --root "$root" --only os.release \
        --config "$tmp/agent.conf" >"$tmp/r2.jws" 2>/dev/null
    "$py" -c 'import json,sys; print(json.dumps({"report": open(sys.argv[1]).read().strip()}))' \
        "$tmp/r2.jws" >"$tmp/r2.json"
    code=$(device /v1/posture "$tmp/dev1.pem" -H 'Content-Type: application/json' --data-binary @"$tmp/r2.json")
    expect 403 "$code" "a new report of a revoked device" || true
    n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM nonces WHERE device_id = '$kid'")
    [ "$n" = 0 ] || fail "the revoked device still holds $n nonce(s)"

    # the device enrols again (a new token, the same key, a new certificate)
    xcc_old=$xcc
    enroll_device "$tmp/dev2.pem"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 403 "$code" "the new certificate before its first report" && expect_type not-appraised "re-enrolled"
    appraise "$tmp/dev2.pem" || show_log
    sleep 0.6 # two revocation polls: the old revocation must not catch the new enrolment
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "the re-enrolled device after its report" && pass "re-enrolled device admitted again"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc_old")
    [ "$code" = 401 ] || [ "$code" = 403 ] || fail "the old certificate after re-enrolment: HTTP $code"
    # (at the agent listener the old certificate names the same device key, which is enrolled
    # again: the agent routes know the device by its key, see docs/verifier-operations.md)

    curl -sS -o "$tmp/metrics" "http://127.0.0.1:$gp/metrics"
    grep -q '^posture_revocations_applied_total 1$' "$tmp/metrics" ||
        fail "/metrics: posture_revocations_applied_total is not 1: $(grep revocations "$tmp/metrics")"
    stop_server

    n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM audit WHERE kind = 'revoke' AND subject = '$kid'")
    [ "$n" = 1 ] && pass "audit: the revoke row (sqlite3)" || fail "audit: $n revoke rows for $kid"
    n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM audit WHERE kind = 'decision' AND subject = '$kid' AND detail LIKE '%\"status\":403%'")
    [ "$n" -ge 3 ] || fail "audit: $n denied decision rows for the revoked device, expected at least 3"
    "$pv" audit verify --config "$conf" >"$tmp/audit.out" 2>&1 && pass "audit verify" ||
        fail "posture-verifier audit verify: $(cat "$tmp/audit.out")"
}

case_reload() {
    start_server
    enroll_device "$tmp/dev1.pem"
    appraise "$tmp/dev1.pem" || { show_log; exit 1; }
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz (default) before any reload" || { show_log; exit 1; }
    code=$(gateway '/v1/authz?policy=route-b' -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz (route-b) before any reload" || true
    [ "$(header X-Posture-Policy)" = "route-b@1" ] || fail "route-b: X-Posture-Policy '$(header X-Posture-Policy)'"

    # 1. route-b now requires something the device is not: decided anew at the next report
    policy route-b 2 eq "no-such-distribution"
    mark
    hup
    since_mark | grep -q "SIGHUP: reloaded" && pass "SIGHUP with a changed policy reloaded" ||
        fail "SIGHUP (changed policy): $(since_mark | tail -n 3)"
    since_mark | grep -q "policy route-b changed (version 1 -> 2)" || fail "the policy change is not logged"
    code=$(gateway '/v1/authz?policy=route-b' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "route-b after its change" && expect_type not-appraised "route-b after its change"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "the unchanged default policy after the reload" || true
    [ "$(header X-Posture-Policy)" = "os-release-only@1" ] || fail "default: X-Posture-Policy '$(header X-Posture-Policy)'"
    appraise "$tmp/dev1.pem" || true
    code=$(gateway '/v1/authz?policy=route-b' -H "X-Client-Cert: $xcc")
    if expect 403 "$code" "route-b after the next report"; then
        expect_type posture-failed "route-b after the next report"
        [ "$(json 'j["failed_checks"]')" = '["os.release"]' ] || fail "route-b: failed_checks $(json 'j["failed_checks"]')"
        [ "$(header X-Posture-Status)" = contraindicated ] || fail "route-b: X-Posture-Status '$(header X-Posture-Status)'"
        pass "a changed policy decides from the next report (403 posture-failed)"
    fi

    # 2. a broken policy file: the running configuration stays
    printf '{"id": "route-c", "version": "1", "checks": {' >"$tmp/policies/route-c.json"
    mark
    hup
    if since_mark | grep "SIGHUP" | grep -q "route-c.json"; then
        pass "a broken policy file is named in the error"
    else
        fail "SIGHUP with a broken policy: no error naming route-c.json: $(since_mark | tail -n 3)"
    fi
    since_mark | grep -q "nothing reloaded" || fail "the broken policy: no 'nothing reloaded'"
    since_mark | grep -q "SIGHUP: reloaded" && fail "a broken policy file was reloaded"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz after a failed reload" || true
    code=$(gateway '/v1/authz?policy=route-b' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "route-b after a failed reload" && expect_type posture-failed "route-b after a failed reload"
    code=$(gateway '/v1/authz?policy=route-c' -H "X-Client-Cert: $xcc")
    expect 503 "$code" "the broken policy is not served" || true
    rm -f "$tmp/policies/route-c.json"

    # 3. a bad verifier.conf value: file:line, nothing reloaded
    write_conf "127.0.0.1/32" "max_connections = lots"
    mark
    hup
    since_mark | grep -q "verifier.conf:[0-9]*" && since_mark | grep -q "nothing reloaded" &&
        pass "a bad configuration value is named with file:line and nothing is reloaded" ||
        fail "bad value: $(since_mark | tail -n 3)"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz after a bad configuration" || true

    # 4. trusted gateways: 127.0.0.2 is not trusted yet; added, it is; 127.0.0.1 removed, it is not
    code=$(gateway /v1/authz --interface 127.0.0.2 -H "X-Client-Cert: $xcc")
    expect 401 "$code" "X-Client-Cert from 127.0.0.2 before it is trusted" || true
    write_conf "127.0.0.1/32 127.0.0.2/32"
    hup
    code=$(gateway /v1/authz --interface 127.0.0.2 -H "X-Client-Cert: $xcc")
    expect 200 "$code" "X-Client-Cert from 127.0.0.2 once it is trusted" && pass "a gateway added by SIGHUP is trusted"
    write_conf "127.0.0.2/32"
    hup
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 401 "$code" "X-Client-Cert from 127.0.0.1 once it is no longer trusted" &&
        pass "a gateway removed by SIGHUP is no longer trusted"
    code=$(gateway /v1/authz --interface 127.0.0.2 -H "X-Client-Cert: $xcc")
    expect 200 "$code" "127.0.0.2 still trusted" || true
    write_conf "127.0.0.1/32"
    hup

    # 5. restart-only keys: named in one line, left as they are
    threads=3
    write_conf "127.0.0.1/32" "request_timeout = 7s"
    mark
    hup
    line=$(since_mark | grep "applied at the next restart only")
    case $line in
    *"[listen] threads"*"[listen] request_timeout"*) pass "restart-only keys named: $(echo "$line" | sed 's/.*SIGHUP: //')" ;;
    *) fail "restart-only keys: '$line'" ;;
    esac
    [ "$(since_mark | grep -c "applied at the next restart only")" = 1 ] || fail "restart-only keys: not one line"
    since_mark | grep -q "SIGHUP: reloaded" || fail "a restart-only change stopped the reload"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "authz after a restart-only change" || true

    # 6. log_level
    log_level_line="log_level = debug"
    write_conf "127.0.0.1/32"
    mark
    hup
    since_mark | grep -q "log level debug" && pass "log_level applied" || fail "log_level: $(since_mark | tail -n 2)"
    log_level_line=
    write_conf "127.0.0.1/32"
    mark
    hup
    since_mark | grep -q "log level as started" || fail "log_level removed: $(since_mark | tail -n 2)"

    # 7. [authz] bearer: Authorization: Bearer <EAR> refused, then accepted after the reload
    appraise "$tmp/dev1.pem" || true
    ear=$(json 'j["ear"]')
    code=$(gateway /v1/authz -H "Authorization: Bearer $ear")
    expect 401 "$code" "a Bearer EAR with [authz] bearer = no" || true
    bearer=yes
    write_conf "127.0.0.1/32"
    hup
    code=$(gateway /v1/authz -H "Authorization: Bearer $ear")
    expect 200 "$code" "a Bearer EAR once [authz] bearer = yes is reloaded" &&
        pass "[authz] bearer applied by SIGHUP"

    # 8. [enroll] rate limits: two malformed enrolments pass the default limits (400 twice);
    # with one request per minute per address reloaded, the second is 429 with Retry-After
    for i in 1 2; do
        code=$(agent /v1/enroll -H 'Content-Type: application/json' --data-binary '{"token":1}')
        expect 400 "$code" "a malformed enrolment ($i) under the default limits" || true
    done
    enroll_lines="rate_per_ip = 1
burst_per_ip = 1"
    write_conf "127.0.0.1/32"
    mark
    hup
    since_mark | grep -q "rate limits replaced" || fail "[enroll] limits: $(since_mark | tail -n 2)"
    code=$(agent /v1/enroll -H 'Content-Type: application/json' --data-binary '{"token":1}')
    expect 400 "$code" "the first enrolment after the new limits" || true
    code=$(agent /v1/enroll -H 'Content-Type: application/json' --data-binary '{"token":1}')
    if expect 429 "$code" "the second enrolment within the minute after the new limits"; then
        [ -n "$(header Retry-After)" ] || fail "429 without Retry-After"
        pass "[enroll] rate limits applied by SIGHUP"
    fi

    curl -sS -o "$tmp/metrics" "http://127.0.0.1:$gp/metrics"
    grep -q 'posture_config_reloads_total{result="ok"} 9' "$tmp/metrics" ||
        fail "/metrics: reloads ok: $(grep reloads "$tmp/metrics")"
    grep -q 'posture_config_reloads_total{result="failed"} 2' "$tmp/metrics" ||
        fail "/metrics: reloads failed: $(grep reloads "$tmp/metrics")"
    stop_server
    "$pv" audit verify --config "$conf" >"$tmp/audit.out" 2>&1 ||
        fail "posture-verifier audit verify: $(cat "$tmp/audit.out")"
}

case "$case_name" in
revoke) case_revoke ;;
reload) case_reload ;;
*)
    echo "$name: unknown case" >&2
    exit 2
    ;;
esac

if [ "$failures" -ne 0 ]; then
    show_log
    echo "$name: $failures failure(s)" >&2
    exit 1
fi
echo "$name: ok"
exit 0
