#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# agent.enroll/<case>: posturectl enroll and submit against the real `posture-verifier serve`.
#   software  [tpm] enabled = no: token create → enroll (software tier) → device.crt verifies
#             against `posture-verifier ca --device` with openssl → submit with fixture roots:
#             Secure Boot on → affirming (exit 0), off → not (exit 1, the failing check and its
#             remediation printed) → the EAR (state_dir/ear.jwt) verified with python3-jwt
#             against /.well-known/jwks.json; --json prints the verifier's answer
#   tpm       swtpm ([tpm] enabled = yes, the swtpm local CA in [enroll] ek_roots): enroll with
#             ActivateCredential (hardware tier, TPM-resident device key) → submit with the TPM
#             evidence → affirming, EAR verified
#   tpm-eventlog  the same with a real firmware event log (gce-rhel8-secureboot) replayed into
#             swtpm first (tests/lib tpm_replay, ATTESTATION.md §4.3) and sent as evidence: the
#             verifier replays it against the quoted PCRs, Secure Boot is proven, affirming
#   errors    a used token, a wrong CA (TLS refused), a malformed token, no token, submit before
#             enrolment, option errors, a revoked device (403 device-revoked, then enrolled
#             again), a verifier that is down: each exit 2 with its message
# Usage: enroll.sh CASE POSTURECTL POSTURE_VERIFIER SOURCE_DIR [TPM_REPLAY]. Exits 77 when
# openssl, curl, python3-jwt (or, for tpm*, swtpm or tpm2-openssl) is missing.
set -u

case_name=$1
pc=$2
pv=$3
src=$4
replay=${5:-}
name="agent.enroll/$case_name"
py=/usr/bin/python3

for t in curl openssl "$py"; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "$name: SKIP: $t is not installed"
        exit 77
    }
done
"$py" -c 'import jwt, cryptography' 2>/dev/null || {
    echo "$name: SKIP: python3-jwt is not installed"
    exit 77
}
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent-enroll.XXXXXX")
pid=
stop_all() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        pid=
    fi
    if command -v swtpm_stop >/dev/null 2>&1; then
        swtpm_stop
    fi
    rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}
pass() { echo "ok: $*"; }
show_log() {
    echo "  --- server log:" >&2
    sed -n '1,80s/^/  | /p' "$tmp/log" >&2
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ "$case_name" = tpm-eventlog ]; then
    [ -n "$replay" ] || {
        echo "$name: SKIP: tpm_replay was not built"
        exit 77
    }
    SWTPM_NO_STARTUP=1 # tpm_replay sends TPM2_Startup itself, at the log's locality
    export SWTPM_NO_STARTUP
fi
case $case_name in tpm*)
    . "$src/tests/lib/swtpm.sh"
    trap 'stop_all' EXIT # swtpm_start sets its own; keep ours (it calls swtpm_stop)
    swtpm_start || exit $?
    trap 'stop_all' EXIT
    ;;
esac
eventlog=$tmp/no-event-log
if [ "$case_name" = tpm-eventlog ]; then
    fixture=$src/tests/fixtures/eventlogs/gce-rhel8-secureboot.bin
    "$replay" "$SWTPM_TCTI" "$fixture" >"$tmp/replay.out" 2>&1 || {
        echo "FAIL: tpm_replay: $(cat "$tmp/replay.out")" >&2
        exit 1
    }
    # [tpm] event_log is a list, the first path that opens is sent (as with the default: the
    # kernel's root-only log, then postured.service's copy in /run/posture)
    eventlog="$tmp/no-event-log $fixture"
fi

# ---- the verifier ---------------------------------------------------------------------------
agents_port=$(free_port)
gw_port=$(free_port)
mkdir -p "$tmp/state" "$tmp/policies" "$tmp/ek-roots" "$tmp/agent"
# One policy: the baseline's Secure Boot rule alone, so fixture roots decide the verdict.
"$py" - "$src/packaging/policies/baseline.json" "$tmp/policies/t-sb.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p = {"id": "t-sb", "version": "1", "description": "agent.enroll test",
     "checks": {"boot.secure_boot": p["checks"]["boot.secure_boot"]}}
json.dump(p, open(sys.argv[2], "w"))
EOF
conf=$tmp/verifier.conf
cat >"$conf" <<EOF
[verifier]
state_dir = $tmp/state
trust_domain = test.example
[listen]
agents = 127.0.0.1:$agents_port
gateways = 127.0.0.1:$gw_port
trusted_gateways = 127.0.0.1/32
threads = 2
[tls]
cert = $tmp/state/tls.crt
key = $tmp/state/tls.key
[enroll]
ek_roots = $tmp/ek-roots
[policy]
dir = $tmp/policies
default = t-sb
EOF
if [ -n "${SWTPM_CA_ROOT:-}" ]; then
    cp "$SWTPM_CA_ROOT" "$tmp/ek-roots/swtpm-root.pem"
    cp "$SWTPM_CA_ISSUER" "$tmp/ek-roots/swtpm-issuer.pem"
fi

start_server() {
    "$pv" serve --config "$conf" >"$tmp/log" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 200 ]; do
        if curl -fsS -o /dev/null "http://127.0.0.1:$gw_port/healthz" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    fail "the verifier did not start"
    show_log
    exit 1
}
start_server
"$pv" ca --config "$conf" >"$tmp/verifier-ca.pem" || fail "posture-verifier ca"
"$pv" ca --device --config "$conf" >"$tmp/device-ca.pem" || fail "posture-verifier ca --device"
url="https://127.0.0.1:$agents_port"

# ---- the agent ------------------------------------------------------------------------------
aconf=$tmp/agent.conf
write_agent_conf() { # TPM-MODE
    cat >"$aconf" <<EOF
[agent]
state_dir = $tmp/agent/state
[server]
url = $url
ca = $tmp/agent/state/verifier-ca.pem
[tpm]
enabled = $1
tcti = ${SWTPM_TCTI:-device:/dev/null}
event_log = $eventlog
EOF
}
token() {
    "$pv" token create --config "$conf" 2>>"$tmp/token.err"
}
roots=$src/tests/fixtures/roots/boot.secure_boot

# run OUT ARGS...: posturectl with its exit status in $rc, stdout in OUT, stderr in OUT.err
run() {
    o=$1
    shift
    "$pc" "$@" >"$o" 2>"$o.err"
    rc=$?
}

verify_ear() { # LABEL
    curl -fsS -o "$tmp/jwks.json" "http://127.0.0.1:$gw_port/.well-known/jwks.json" ||
        fail "$1: GET jwks.json"
    if out=$("$py" - "$tmp/agent/state/ear.jwt" "$tmp/jwks.json" 2>&1 <<'EOF'
import json, sys, jwt
ear = open(sys.argv[1]).read().strip()
jwks = jwt.PyJWKSet.from_dict(json.load(open(sys.argv[2])))
hdr = jwt.get_unverified_header(ear)
assert hdr["typ"] == "eat+jwt", hdr
key = [k for k in jwks.keys if k.key_id == hdr["kid"]][0]
c = jwt.decode(ear, key.key, algorithms=["ES256"], options={"verify_aud": False})
d = c["submods"]["device"]
print(d["ear.status"], c["sub"], json.dumps(d.get("tag:posture.dev,2026:findings", {})),
      json.dumps(d.get("ear.trustworthiness-vector", {})))
EOF
    ); then
        pass "$1: the EAR verifies with python3-jwt against the JWKS ($out)"
    else
        fail "$1: EAR verification: $out"
    fi
}

check_cert() { # LABEL
    crt=$tmp/agent/state/device.crt
    [ "$(stat -c %a "$crt" 2>/dev/null)" = 644 ] || fail "$1: device.crt mode $(stat -c %a "$crt")"
    if openssl verify -CAfile "$tmp/device-ca.pem" "$crt" >/dev/null 2>&1; then
        pass "$1: device.crt verifies against posture-verifier ca --device"
    else
        fail "$1: device.crt does not verify: $(openssl verify -CAfile "$tmp/device-ca.pem" "$crt" 2>&1)"
    fi
    kid=$("$pc" key --jwk --config "$aconf" 2>/dev/null | "$py" -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
    openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null |
        grep -q "URI:spiffe://test.example/device/$kid" &&
        pass "$1: URI SAN names the device key's kid" || fail "$1: the SAN does not name $kid"
}

case "$case_name" in
software)
    write_agent_conf no
    tok=$(token)
    run "$tmp/enroll.out" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" \
        --config "$aconf"
    if [ $rc = 0 ] && grep -q 'at trust tier software' "$tmp/enroll.out"; then
        pass "enroll (software tier): $(head -n 1 "$tmp/enroll.out")"
    else
        fail "enroll: exit $rc: $(cat "$tmp/enroll.out" "$tmp/enroll.out.err")"
        show_log
    fi
    grep -q "Verifier CA: $tmp/agent/state/verifier-ca.pem" "$tmp/enroll.out" ||
        fail "enroll does not say where the CA went"
    cmp -s "$tmp/verifier-ca.pem" "$tmp/agent/state/verifier-ca.pem" ||
        fail "the pinned CA was not stored"
    check_cert software

    run "$tmp/submit.out" submit --only boot.secure_boot --root "$roots/sb-on" --config "$aconf"
    if [ $rc = 0 ] && grep -q '^Verdict: affirming' "$tmp/submit.out"; then
        pass "submit, Secure Boot on: $(head -n 1 "$tmp/submit.out")"
    else
        fail "submit (sb-on): exit $rc: $(cat "$tmp/submit.out" "$tmp/submit.out.err")"
        show_log
    fi
    [ "$(stat -c %a "$tmp/agent/state/ear.jwt" 2>/dev/null)" = 600 ] || fail "ear.jwt mode"
    verify_ear "software, affirming"

    run "$tmp/submit2.out" submit --only boot.secure_boot --root "$roots/sb-off" --config "$aconf"
    if [ $rc = 1 ] && grep -q '^Verdict: contraindicated' "$tmp/submit2.out" &&
        grep -q 'boot.secure_boot' "$tmp/submit2.out"; then
        pass "submit, Secure Boot off: exit 1, $(tr '\n' ' ' <"$tmp/submit2.out")"
    else
        fail "submit (sb-off): exit $rc: $(cat "$tmp/submit2.out" "$tmp/submit2.out.err")"
    fi
    verify_ear "software, contraindicated"

    grep -q '"tier": *"software"' "$tmp/agent/state/enrollment.json" &&
        pass "enrollment.json records the software tier" || fail "enrollment.json"

    # [tpm] enabled = auto without a TPM: the software tier, and submit sends no evidence
    cp "$aconf" "$tmp/agent-auto.conf" # without [server] ca: the stored verifier-ca.pem
    sed -i -e "s|state_dir = .*|state_dir = $tmp/agent-auto|" -e 's|enabled = .*|enabled = auto|' \
        -e "s|tcti = .*|tcti = device:$tmp/no-such-tpm|" -e "/^ca = /d" "$tmp/agent-auto.conf"
    mkdir -p "$tmp/agent-auto"
    tok=$(token)
    run "$tmp/auto.out" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" \
        --config "$tmp/agent-auto.conf"
    [ $rc = 0 ] && grep -q 'at trust tier software' "$tmp/auto.out" &&
        pass "enabled = auto without a TPM: software tier" ||
        fail "auto: exit $rc: $(cat "$tmp/auto.out" "$tmp/auto.out.err")"
    run "$tmp/auto2.out" submit --only boot.secure_boot --root "$roots/sb-on" \
        --config "$tmp/agent-auto.conf"
    [ $rc = 0 ] && grep -q '^Verdict: affirming' "$tmp/auto2.out" &&
        pass "enabled = auto without a TPM: submit affirming" ||
        fail "auto submit: exit $rc: $(cat "$tmp/auto2.out" "$tmp/auto2.out.err")"

    run "$tmp/submit3.out" submit --json --only boot.secure_boot --root "$roots/sb-on" \
        --config "$aconf"
    if [ $rc = 0 ] && "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="affirming" and d["ear"]' "$tmp/submit3.out" 2>/dev/null; then
        pass "submit --json prints the verifier's answer"
    else
        fail "submit --json: exit $rc: $(cat "$tmp/submit3.out" "$tmp/submit3.out.err")"
    fi
    ;;

tpm | tpm-eventlog)
    command -v tpm2_getcap >/dev/null 2>&1 || exit 77
    moddir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
    [ -f "${OPENSSL_MODULES:-$moddir}/tpm2.so" ] || {
        echo "$name: SKIP: the tpm2 OpenSSL provider is not installed (tpm2-openssl)"
        exit 77
    }
    write_agent_conf yes
    tok=$(token)
    run "$tmp/enroll.out" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" \
        --config "$aconf"
    if [ $rc = 0 ] && grep -q 'at trust tier hardware' "$tmp/enroll.out"; then
        pass "enroll with ActivateCredential (hardware tier): $(head -n 1 "$tmp/enroll.out")"
    else
        fail "enroll: exit $rc: $(cat "$tmp/enroll.out" "$tmp/enroll.out.err")"
        show_log
    fi
    check_cert tpm
    grep -q '"tier": *"hardware"' "$tmp/agent/state/enrollment.json" &&
        pass "enrollment.json records the hardware tier" || fail "enrollment.json"
    grep -q ':esys:' "$tmp/enroll.out.err" &&
        fail "the TSS's own log lines reached stderr: $(grep ':esys:' "$tmp/enroll.out.err")"
    n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x)
    s=$(tpm2_getcap handles-loaded-session 2>/dev/null | grep -c 0x)
    [ "$n" = 0 ] && [ "$s" = 0 ] && pass "nothing left loaded in the TPM after enrolment" ||
        fail "left in the TPM: $n transient objects, $s sessions"

    if [ "$case_name" = tpm-eventlog ]; then
        run "$tmp/submit.out" submit --only boot.secure_boot --root "$roots/sb-on" \
            --config "$aconf"
        if [ $rc = 0 ] && grep -q '^Verdict: affirming' "$tmp/submit.out"; then
            pass "submit with the quote and the event log: $(head -n 1 "$tmp/submit.out")"
        else
            fail "submit: exit $rc: $(cat "$tmp/submit.out" "$tmp/submit.out.err")"
            show_log
        fi
        verify_ear "tpm-eventlog"
        case $out in
        *'"hardware": 2'*) pass "the EAR: hardware 2 (the quote verified)" ;;
        *) fail "the EAR's vector: $out" ;;
        esac
    else
    # swtpm has no firmware event log: the quote is proven (hardware 2 in the vector), Secure
    # Boot cannot be, so the verifier says warning (no-event-log) and submit exits 1.
    run "$tmp/submit.out" submit --only boot.secure_boot --root "$roots/sb-on" --config "$aconf"
    if [ $rc = 1 ] && grep -q '^Verdict: warning' "$tmp/submit.out" &&
        grep -q '^  no-event-log: ' "$tmp/submit.out"; then
        pass "submit with TPM evidence: exit 1, $(head -n 1 "$tmp/submit.out")"
    else
        fail "submit: exit $rc: $(cat "$tmp/submit.out" "$tmp/submit.out.err")"
        show_log
    fi
    verify_ear "tpm"
    case $out in
    *'"no-event-log"'*'"hardware": 2'*) pass "the EAR: the quote verified (hardware 2), no event log" ;;
    *) fail "the EAR's findings and vector: $out" ;;
    esac
    n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x)
    s=$(tpm2_getcap handles-loaded-session 2>/dev/null | grep -c 0x)
    [ "$n" = 0 ] && [ "$s" = 0 ] && pass "nothing left loaded in the TPM after submit" ||
        fail "left in the TPM after submit: $n transient objects, $s sessions"
    # a second cycle (a new nonce, the next seq)
    run "$tmp/submit2.out" submit --json --only boot.secure_boot --root "$roots/sb-on" \
        --config "$aconf"
    if [ $rc = 1 ] && "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="warning" and d["seq"]==2, d' "$tmp/submit2.out"; then
        pass "second submit: seq 2"
    else
        fail "second submit: exit $rc: $(cat "$tmp/submit2.out" "$tmp/submit2.out.err")"
    fi
    fi
    ;;

errors)
    write_agent_conf no
    # submit before enrolment
    run "$tmp/o" submit --config "$aconf"
    [ $rc = 2 ] && grep -q 'not enrolled' "$tmp/o.err" && pass "submit before enrol: exit 2" ||
        fail "submit before enrol: exit $rc: $(cat "$tmp/o.err")"
    # no token, a malformed one, both
    run "$tmp/o" enroll --server "$url" --ca "$tmp/verifier-ca.pem" --config "$aconf"
    [ $rc = 2 ] && grep -q 'token is missing' "$tmp/o.err" && pass "no token: exit 2" ||
        fail "no token: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token not-a-token --ca "$tmp/verifier-ca.pem" \
        --config "$aconf"
    [ $rc = 2 ] && grep -q 'not an enrolment token' "$tmp/o.err" && pass "malformed token: exit 2" ||
        fail "malformed token: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token x --token-file "$tmp/t" --config "$aconf"
    [ $rc = 2 ] && grep -q 'not both' "$tmp/o.err" && pass "--token and --token-file: exit 2" ||
        fail "--token and --token-file: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token x extra --config "$aconf"
    [ $rc = 2 ] && grep -q "unexpected argument 'extra'" "$tmp/o.err" &&
        pass "extra argument: exit 2" || fail "extra argument: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token-file "$tmp/no-such-file" --config "$aconf"
    [ $rc = 2 ] && grep -q 'no-such-file' "$tmp/o.err" && pass "missing token file: exit 2" ||
        fail "missing token file: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token "$(token)" --config "$aconf"
    [ $rc = 2 ] && grep -q 'verifier-ca.pem' "$tmp/o.err" &&
        pass "no CA pinned (the configured file is missing): exit 2" ||
        fail "no CA: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "http://127.0.0.1:$gw_port" --token "$(token)" \
        --ca "$tmp/verifier-ca.pem" --config "$aconf"
    [ $rc = 2 ] && grep -q 'not an https:// URL' "$tmp/o.err" && pass "http:// refused: exit 2" ||
        fail "http:// URL: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" submit --bogus --config "$aconf"
    [ $rc = 2 ] && pass "submit --bogus: exit 2" || fail "submit --bogus: exit $rc"
    # a CA that did not issue the server's certificate
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout "$tmp/other.key" -out "$tmp/other.pem" -subj /CN=other 2>/dev/null
    tok=$(token)
    run "$tmp/o" enroll --server "$url" --token "$tok" --ca "$tmp/other.pem" --config "$aconf"
    [ $rc = 2 ] && grep -q 'not issued by the pinned CA' "$tmp/o.err" &&
        pass "wrong CA: exit 2, $(cut -c1-100 "$tmp/o.err")" ||
        fail "wrong CA: exit $rc: $(cat "$tmp/o.err")"
    [ -e "$tmp/agent/state/device.crt" ] && fail "a device.crt after a refused enrolment"
    # the token from a file; then the same token again: refused as used
    printf '%s\n' "$tok" >"$tmp/token.txt"
    run "$tmp/o" enroll --server "$url" --token-file "$tmp/token.txt" --ca "$tmp/verifier-ca.pem" \
        --config "$aconf"
    [ $rc = 0 ] && pass "--token-file: enrolled" || fail "--token-file: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" --config "$aconf"
    [ $rc = 2 ] && grep -q 'enroll-token-used' "$tmp/o.err" && pass "used token: exit 2" ||
        fail "used token: exit $rc: $(cat "$tmp/o.err")"
    # a known device with a fresh token: the verifier says it exists
    tok=$(token)
    run "$tmp/o" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" --config "$aconf"
    [ $rc = 2 ] && grep -q 'enroll-device-exists' "$tmp/o.err" && pass "re-enrolment: exit 2" ||
        fail "re-enrolment: exit $rc: $(cat "$tmp/o.err")"
    # revoked by an administrator: submit is refused (401), then a new enrolment works
    kid=$("$pc" key --jwk --config "$aconf" 2>/dev/null | "$py" -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
    "$pv" devices revoke "$kid" --config "$conf" >"$tmp/revoke.out" 2>&1 || fail "revoke: $(cat "$tmp/revoke.out")"
    run "$tmp/o" submit --only boot.secure_boot --root "$roots/sb-on" --config "$aconf"
    [ $rc = 2 ] && grep -q 'HTTP 403 device-revoked' "$tmp/o.err" &&
        pass "revoked device: submit exit 2, $(grep -o 'HTTP 403.*' "$tmp/o.err")" ||
        fail "revoked device: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" enroll --server "$url" --token "$(token)" --config "$aconf"
    [ $rc = 0 ] && pass "re-enrolment after the revocation (CA from the state directory)" ||
        fail "re-enrolment after revoke: exit $rc: $(cat "$tmp/o.err")"
    run "$tmp/o" submit --only boot.secure_boot --root "$roots/sb-on" --config "$aconf"
    [ $rc = 0 ] && pass "submit after re-enrolment: exit 0" ||
        fail "submit after re-enrolment: exit $rc: $(cat "$tmp/o.err")"
    # [tpm] enabled = yes without a TPM
    write_agent_conf yes
    tok=$(token)
    rm -rf "$tmp/agent2"
    sed -i "s|state_dir = .*|state_dir = $tmp/agent2|" "$aconf"
    mkdir -p "$tmp/agent2"
    run "$tmp/o" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" --config "$aconf"
    [ $rc = 2 ] && grep -qi 'TPM' "$tmp/o.err" && pass "enabled = yes without a TPM: exit 2" ||
        fail "enabled = yes without a TPM: exit $rc: $(cat "$tmp/o.err")"
    # the enrolment rate limit (default burst 20 per address): posturectl says when to retry,
    # and the token is still good afterwards
    write_agent_conf no
    sed "s|state_dir = .*|state_dir = $tmp/agent3|" "$aconf" >"$tmp/agent3.conf"
    mkdir -p "$tmp/agent3"
    tok=$(token)
    i=0
    while [ $i -lt 40 ]; do
        c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/verifier-ca.pem" \
            -H 'Content-Type: application/json' --data-binary '{}' "$url/v1/enroll")
        [ "$c" = 429 ] && break
        i=$((i + 1))
    done
    [ "$c" = 429 ] || fail "no 429 after $i malformed enrolment requests (last: $c)"
    run "$tmp/o" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" \
        --config "$tmp/agent3.conf"
    if [ $rc = 2 ] && grep -q 'HTTP 429 rate-limited' "$tmp/o.err" &&
        grep -q 'try again in [0-9]* s' "$tmp/o.err"; then
        pass "rate-limited: exit 2, $(grep -o 'try again in [0-9]* s' "$tmp/o.err")"
    else
        fail "rate-limited: exit $rc: $(cat "$tmp/o.err")"
    fi
    wait_s=$(sed -n 's/.*try again in \([0-9]*\) s.*/\1/p' "$tmp/o.err")
    sleep "${wait_s:-2}"
    run "$tmp/o" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" \
        --config "$tmp/agent3.conf"
    [ $rc = 0 ] && pass "after Retry-After: the same token enrols" ||
        fail "after the rate limit: exit $rc: $(cat "$tmp/o.err")"
    # the verifier stopped
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null
    pid=
    run "$tmp/o" submit --only boot.secure_boot --root "$roots/sb-on" --config "$aconf"
    [ $rc = 2 ] && grep -q 'cannot reach the verifier' "$tmp/o.err" &&
        pass "verifier down: exit 2" || fail "verifier down: exit $rc: $(cat "$tmp/o.err")"
    ;;
*)
    echo "$name: unknown case" >&2
    exit 2
    ;;
esac

if [ -n "$pid" ]; then
    kill -TERM "$pid"
    wait "$pid"
    src_rc=$?
    pid=
    [ $src_rc = 0 ] || {
        fail "the verifier exited with status $src_rc"
        show_log
    }
fi
[ $failures -eq 0 ] || exit 1
echo "$name: all passed"
