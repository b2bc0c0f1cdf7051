#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# verifier.api/<case>: the API routes of `posture-verifier serve` (docs/verifier-api.md) end to
# end, driven with curl over mTLS, posturectl (key, report), openssl and python3-jwt:
#   flow     token → POST /v1/enroll (software tier) → device certificate (openssl verify, SAN)
#            → POST /v1/challenge over mTLS → posturectl report --nonce → POST /v1/posture 201
#            with an EAR that python3-jwt verifies against /.well-known/jwks.json (typ, sub,
#            cnf x5t#S256, eat_nonce, 300 s); the same submission again → 200 duplicate; a new
#            report with a used nonce → 400 use_fresh_nonce + Replay-Nonce, which then works;
#            GET/HEAD/POST /v1/authz[/...] with X-Client-Cert from a trusted gateway → 200 and
#            every X-Posture-* header; ?policy=payments-admin → 403 naming failing checks; no
#            certificate → 401; unknown policy → 503; the same header from an untrusted peer →
#            401; /metrics counts; audit rows of appraisals and of every decision (sqlite3,
#            posture-verifier audit verify)
#   restart  after a restart the view is rebuilt from the store for every policy: the default
#            policy answers 200 with the stored EAR, payments-admin and baseline as before the
#            restart (one stored row per other policy, sqlite3); then payments-admin's version
#            changes and baseline is removed: payments-admin 403 not-appraised (its old
#            appraisal decides nothing), baseline 503, until the next report
#   tpm      swtpm: posturectl enroll with ActivateCredential (hardware tier) and submit with
#            TPM evidence twice; the TPM clock state recorded with each accepted quote (sqlite3);
#            a policy requiring the hardware tier and a quote answers 200 (EAR hardware claim
#            2), payments-admin 403 (no Secure Boot proof without an event log)
#   refusals /v1/challenge and /v1/posture without a certificate (401), a malformed submission
#            (400), an unknown nonce (400 use_fresh_nonce), a forged report signature (400
#            report-rejected), a malformed and a used token at /v1/enroll (400, 401), routes on
#            the wrong listener (404)
# Usage: api.sh CASE POSTURE_VERIFIER POSTURECTL SOURCE_DIR. Exits 77 when curl, openssl or
# python3-jwt (for tpm: swtpm, tpm2-tools or the tpm2 OpenSSL provider) is missing.
set -u

case_name=$1
pv=$2
pctl=$3
src=$4
name="verifier.api/$case_name"
py=/usr/bin/python3 # Debian's, which has python3-jwt

for t in curl openssl "$py"; do
    if ! command -v "$t" >/dev/null 2>&1; then
        echo "$name: SKIP: $t is not installed"
        exit 77
    fi
done
if ! "$py" -c 'import jwt, cryptography' 2>/dev/null; then
    echo "$name: SKIP: python3-jwt is not installed"
    exit 77
fi
LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verifier-api.XXXXXX")
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
show_log() {
    echo "  --- server log:" >&2
    sed -n '1,80s/^/  | /p' "$tmp/log" >&2
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ap=$(free_port)
gp=$(free_port)
conf=$tmp/verifier.conf
mkdir -p "$tmp/state"
cat >"$conf" <<EOF
[verifier]
state_dir = $tmp/state
trust_domain = test.example

[listen]
agents = 127.0.0.1:$ap
gateways = 127.0.0.1:$gp
trusted_gateways = 127.0.0.1/32
threads = 2

[tls]
cert = $tmp/tls.crt
key = $tmp/tls.key

[enroll]
ek_roots = $tmp/ek-roots

[policy]
dir = $tmp/policies
default = os-release-only
EOF
# the shipped policies (a software-tier device with one check fails both) and a default that
# such a device passes, so that every verdict is deterministic
mkdir -p "$tmp/policies"
cp "$src"/packaging/policies/*.json "$tmp/policies/"
cat >"$tmp/policies/os-release-only.json" <<'EOF'
{
  "id": "os-release-only",
  "version": "1",
  "description": "verifier.api test: the os.release check only",
  "allow_warning": true,
  "checks": {
    "os.release": {
      "required": true,
      "decidable": [{"path": "/errno", "op": "absent"}],
      "evidence": [{"path": "/id", "op": "ne", "value": ""}]
    }
  }
}
EOF

start_server() {
    "$pv" serve --config "$conf" >>"$tmp/log" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 100 ]; do
        if curl -s -o /dev/null "http://127.0.0.1:$gp/healthz" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
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

# curl to the agent listener (TLS, the self-signed certificate pinned); extra args follow.
agent() {
    path=$1
    shift
    curl -sS --max-time 20 --cacert "$tmp/tls.crt" -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' \
        "$@" "https://127.0.0.1:$ap$path"
}
# ... with the device certificate
device() {
    path=$1
    shift
    agent "$path" --cert "$tmp/dev.pem" --key "$tmp/agent/device.key" "$@"
}
# curl to the gateway listener (plain HTTP)
gateway() {
    path=$1
    shift
    curl -sS --max-time 20 -o "$tmp/out" -D "$tmp/hdr" -w '%{http_code}' "$@" \
        "http://127.0.0.1:$gp$path"
}
header() { # NAME: the value in $tmp/hdr
    tr -d '\r' <"$tmp/hdr" | sed -n "s/^$1: //Ip" | head -n 1
}
json() { # EXPR on the JSON in $tmp/out (python, as j)
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

# ---- the device side: a key file, enrolment, certificate --------------------------------
mkdir -p "$tmp/agent"
printf '[agent]\nstate_dir = %s\n[tpm]\nenabled = no\n' "$tmp/agent" >"$tmp/agent.conf"
root=$src/tests/fixtures/roots/os-release/debian-12

enroll_device() {
    "$pctl" key --jwk --config "$tmp/agent.conf" >"$tmp/jwk.json" 2>"$tmp/err" ||
        { fail "posturectl key: $(cat "$tmp/err")"; exit 1; }
    token=$("$pv" token create --config "$conf" --label api-test 2>"$tmp/err") ||
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
    [ "$(json 'j["status"]')" = enrolled ] || fail "enroll: status is not enrolled"
    [ "$(json 'j["tier"]')" = software ] || fail "enroll: tier is not software"
    kid=$(json 'j["device_id"]')
    json 'j["certificate"]' >"$tmp/dev.pem"
    json 'j["ca_certificate"]' >"$tmp/ca.pem"
    enrolled_x5t=$(json 'j["x5t#S256"]')
    # independent checks of the certificate: chain, SAN, x5t#S256
    openssl verify -CAfile "$tmp/state/device-ca.pem" -purpose sslclient "$tmp/dev.pem" \
        >/dev/null 2>&1 || fail "openssl verify: the device certificate does not chain to the device CA"
    openssl x509 -in "$tmp/dev.pem" -noout -ext subjectAltName 2>/dev/null |
        grep -q "URI:spiffe://test.example/device/$kid" || fail "the certificate's SAN is not the device's"
    x5t=$(openssl x509 -in "$tmp/dev.pem" -outform DER | openssl dgst -sha256 -binary |
        openssl base64 -A | tr '+/' '-_' | tr -d '=')
    [ "$x5t" = "$enrolled_x5t" ] || fail "x5t#S256 $enrolled_x5t is not openssl's $x5t"
    # the nginx form of the certificate: URL-escaped PEM
    xcc=$("$py" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$tmp/dev.pem")
}

challenge() {
    code=$(device /v1/challenge -X POST)
    expect 200 "$code" "POST /v1/challenge" || return 1
    nonce=$(json 'j["nonce"]')
    [ "$(json 'j["expires_in"]')" = 120 ] || fail "challenge: expires_in is not 120"
    "$py" -c 'import base64,sys; n=sys.argv[1]; assert len(base64.urlsafe_b64decode(n+"="*(-len(n)%4)))==32' \
        "$nonce" 2>/dev/null || fail "challenge: the nonce '$nonce' is not base64url of 32 bytes"
}

# report NONCE FILE: a signed report and the submission body {"report": ...}
report() {
    "$pctl" report --nonce "$1" --root "$root" --only os.release --config "$tmp/agent.conf" \
        >"$tmp/$2.jws" 2>"$tmp/err" || fail "posturectl report: $(cat "$tmp/err")"
    "$py" -c 'import json,sys; print(json.dumps({"report": open(sys.argv[1]).read().strip()}))' \
        "$tmp/$2.jws" >"$tmp/$2.json"
}

submit() { # FILE
    device /v1/posture -H 'Content-Type: application/json' --data-binary @"$tmp/$1.json"
}

# verify_ear TOKEN NONCE: python3-jwt against the JWKS
verify_ear() {
    curl -sS -o "$tmp/jwks.json" "http://127.0.0.1:$gp/.well-known/jwks.json" ||
        fail "GET /.well-known/jwks.json"
    if ! "$py" - "$tmp/jwks.json" "$1" "$2" "$kid" "$x5t" >"$tmp/py.out" 2>&1 <<'PY'; then
import json, sys
import jwt
jwks, token, nonce, kid, x5t = sys.argv[1:6]
keys = json.load(open(jwks))["keys"]
header = jwt.get_unverified_header(token)
assert header["typ"] == "eat+jwt", header
assert header["alg"] == "ES256", header
k = [k for k in keys if k["kid"] == header["kid"]]
assert len(k) == 1, "the EAR's kid is not in the JWKS"
key = jwt.PyJWK(k[0]).key
c = jwt.decode(token, key, algorithms=["ES256"], options={"verify_aud": False})
assert c["sub"] == "spiffe://test.example/device/" + kid, c["sub"]
assert c["cnf"]["x5t#S256"] == x5t, c["cnf"]
assert c["cnf"]["jkt"] == kid, c["cnf"]
assert c["exp"] - c["iat"] == 300, (c["iat"], c["exp"])
assert c["eat_profile"] == "tag:github.com,2023:veraison/ear"
if nonce != "-":
    assert c["eat_nonce"] == nonce, (c.get("eat_nonce"), nonce)
dev = c["submods"]["device"]
assert dev["ear.status"] in ("affirming", "warning"), dev["ear.status"]
# a tampered token is refused
bad = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
try:
    jwt.decode(bad, key, algorithms=["ES256"], options={"verify_aud": False})
    raise SystemExit("a tampered EAR verified")
except jwt.InvalidSignatureError:
    pass
print("ok")
PY
        fail "python3-jwt does not accept the EAR: $(tail -n 3 "$tmp/py.out")"
    fi
}

xposture_all() { # every X-Posture-* header of a 200
    for h in X-Posture-Status X-Posture-Device-Id X-Posture-Policy X-Posture-Expires X-Posture-Token; do
        [ -n "$(header $h)" ] || fail "$1: no $h header"
    done
    [ "$(header X-Posture-Device-Id)" = "spiffe://test.example/device/$kid" ] ||
        fail "$1: X-Posture-Device-Id is '$(header X-Posture-Device-Id)'"
    case $(header Cache-Control) in
    max-age=*) ;;
    *) fail "$1: Cache-Control is '$(header Cache-Control)', expected max-age=N" ;;
    esac
}

# ---- cases ------------------------------------------------------------------------------
case_flow() {
    start_server
    enroll_device
    challenge || { show_log; exit 1; }
    report "$nonce" r1
    code=$(submit r1)
    expect 201 "$code" "POST /v1/posture" || { show_log; exit 1; }
    ear=$(json 'j["ear"]')
    status=$(json 'j["status"]')
    [ "$(json 'j["policy"]')" = "os-release-only@1" ] || fail "posture: policy is '$(json 'j["policy"]')'"
    json 'j["failed_checks"]' | grep -q '^\[' || fail "posture: failed_checks is not an array"
    [ "$(json 'len(j["policies"])')" = 3 ] || fail "posture: not one summary per policy"
    [ "$(json '[p for p in j["policies"] if p["policy"].startswith("payments-admin@")][0]["allow"]')" = false ] ||
        fail "posture: payments-admin allows a software-tier device"
    verify_ear "$ear" "$nonce"

    # at-least-once delivery: the same submission again
    code=$(submit r1)
    expect 200 "$code" "the same submission again" &&
        { [ "$(json 'j["duplicate"]')" = true ] || fail "re-sent: duplicate is not true"; }
    [ "$(json 'j["ear"]')" = "$ear" ] || fail "re-sent: not the recorded EAR"

    # a new report with the used nonce
    report "$nonce" r2
    code=$(submit r2)
    expect 400 "$code" "a used nonce" || true
    [ "$(json 'j["error"]')" = use_fresh_nonce ] || fail "used nonce: error is not use_fresh_nonce"
    [ "$(json 'j["reason"]')" = nonce-used ] || fail "used nonce: reason is '$(json 'j["reason"]')'"
    case $(header Content-Type) in
    application/problem+json*) ;;
    *) fail "used nonce: Content-Type '$(header Content-Type)'" ;;
    esac
    fresh=$(header Replay-Nonce)
    [ -n "$fresh" ] && [ "$fresh" = "$(json 'j["nonce"]')" ] || fail "used nonce: no Replay-Nonce (or not the body's)"
    report "$fresh" r3
    code=$(submit r3)
    expect 201 "$code" "a report with the Replay-Nonce nonce" || true
    ear=$(json 'j["ear"]')
    verify_ear "$ear" "$fresh"

    # the gateway decision
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    if expect 200 "$code" "authz (baseline)"; then
        xposture_all "authz"
        [ "$(header X-Posture-Token)" = "$ear" ] || fail "authz: X-Posture-Token is not the latest EAR"
        [ "$(header X-Posture-Policy)" = "os-release-only@1" ] || fail "authz: X-Posture-Policy '$(header X-Posture-Policy)'"
        [ "$(header X-Posture-Status)" = "$status" ] || fail "authz: X-Posture-Status '$(header X-Posture-Status)' (posture said $status)"
        verify_ear "$(header X-Posture-Token)" -
    fi
    code=$(gateway /v1/authz -I -H "X-Client-Cert: $xcc")
    expect 200 "$code" "HEAD /v1/authz" && xposture_all "HEAD authz"
    code=$(gateway /v1/authz/envoy/some/path -X POST -H "X-Client-Cert: $xcc")
    expect 200 "$code" "POST /v1/authz/envoy/..." || true
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc" -H "X-Posture-Policy: os-release-only")
    expect 200 "$code" "authz with X-Posture-Policy os-release-only" || true
    code=$(gateway '/v1/authz?policy=baseline' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "authz (baseline: the device reports one check)" || true

    code=$(gateway '/v1/authz?policy=payments-admin' -H "X-Client-Cert: $xcc")
    if expect 403 "$code" "authz (payments-admin)"; then
        [ "$(json 'j["type"]')" = "urn:posture:problem:posture-failed" ] || fail "403: type '$(json 'j["type"]')'"
        [ "$(json 'len(j["failed_checks"]) > 0')" = true ] || fail "403: no failing checks named"
        [ "$(header X-Posture-Status)" = contraindicated ] || fail "403: X-Posture-Status '$(header X-Posture-Status)'"
        [ "$(header Cache-Control)" = no-store ] || fail "403: Cache-Control '$(header Cache-Control)'"
    fi
    # the policy is the URL's, never a request header's (gateways copy the client's headers)
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc" -H "X-Posture-Policy: payments-admin")
    expect 200 "$code" "authz with X-Posture-Policy payments-admin (ignored)" &&
        { [ "$(header X-Posture-Policy)" = "os-release-only@1" ] || fail "X-Posture-Policy header chose '$(header X-Posture-Policy)'"; }
    code=$(gateway /v1/authz/policy/payments-admin/app/x -H "X-Client-Cert: $xcc")
    expect 403 "$code" "authz /v1/authz/policy/payments-admin/..." || true

    code=$(gateway /v1/authz)
    if expect 401 "$code" "authz without a certificate"; then
        [ -n "$(header WWW-Authenticate)" ] || fail "401: no WWW-Authenticate"
    fi
    code=$(gateway '/v1/authz?policy=no-such-policy' -H "X-Client-Cert: $xcc")
    expect 503 "$code" "authz with an unknown policy" || true
    code=$(gateway /v1/authz --interface 127.0.0.2 -H "X-Client-Cert: $xcc")
    expect 401 "$code" "authz: X-Client-Cert from an untrusted peer" || true
    # a bare fingerprint (Caddy) works too: the view is keyed by x5t#S256
    fp=$(openssl x509 -in "$tmp/dev.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
    code=$(gateway /v1/authz -H "X-Client-Cert-Fp: $fp")
    expect 200 "$code" "authz with X-Client-Cert-Fp" || true

    # metrics and the audit log
    curl -sS -o "$tmp/metrics" "http://127.0.0.1:$gp/metrics"
    for m in 'posture_decisions_total{result="allow"}' 'posture_decisions_total{result="deny"}' \
        'posture_decisions_total{result="unauthenticated"}' 'posture_enrollments_total{reason="ok"}' \
        'posture_submissions_rejected_total{reason="nonce-used"}' 'posture_appraisals_total{status=' \
        'posture_appraisal_seconds_count'; do
        grep -qF "$m" "$tmp/metrics" || fail "/metrics has no $m"
    done
    if command -v sqlite3 >/dev/null 2>&1; then
        n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM audit WHERE kind = 'appraisal'" 2>/dev/null)
        [ "$n" = 2 ] || fail "audit: $n appraisal rows, expected 2"
        n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM appraisals" 2>/dev/null)
        [ "$n" = 2 ] || fail "store: $n appraisals, expected 2 (one per report, none for the duplicate)"
    fi
    stop_server
    # every decision is in the audit log (written by a thread; the rest at SIGTERM)
    if command -v sqlite3 >/dev/null 2>&1; then
        n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM audit WHERE kind = 'decision'" 2>/dev/null)
        [ "$n" = 12 ] || fail "audit: $n decision rows, expected 12"
        n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM audit WHERE kind = 'decision' AND subject = '$kid' AND detail LIKE '%\"result\":\"allow\"%' AND detail LIKE '%\"x5t\":\"$x5t\"%'" 2>/dev/null)
        [ "$n" = 6 ] || fail "audit: $n allow rows naming the device and its certificate, expected 6"
        "$pv" audit verify --config "$conf" >"$tmp/audit.out" 2>&1 ||
            fail "posture-verifier audit verify: $(cat "$tmp/audit.out")"
    fi
}

# The payments-admin decision as one line: HTTP code, problem type, X-Posture-Status, failed
# checks, X-Posture-Token.
pa_decision() {
    code=$(gateway '/v1/authz?policy=payments-admin' -H "X-Client-Cert: $xcc")
    echo "$code $(json 'j["type"]') $(header X-Posture-Status) $(json 'j.get("failed_checks")') $(header X-Posture-Token)"
}

case_restart() {
    start_server
    enroll_device
    # enrolled, not appraised yet: 403 not-appraised (the device is known)
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 403 "$code" "authz before the first report" || true
    challenge || { show_log; exit 1; }
    report "$nonce" r1
    code=$(submit r1)
    expect 201 "$code" "POST /v1/posture" || { show_log; exit 1; }
    ear=$(json 'j["ear"]')
    before=$(pa_decision)
    case "$before" in
    "403 urn:posture:problem:posture-failed contraindicated "*) ;;
    *) fail "payments-admin before the restart: '$before'" ;;
    esac
    stop_server
    # every policy's appraisal is stored: the default's row and one for each other policy
    if command -v sqlite3 >/dev/null 2>&1; then
        n=$(sqlite3 "$tmp/state/store.db" "SELECT count(*) FROM appraisal_policies" 2>/dev/null)
        [ "$n" = 2 ] || fail "store: $n rows of the other policies, expected 2 (baseline, payments-admin)"
    fi
    start_server
    grep -q "decision view: 1 device" "$tmp/log" || fail "restart: the log does not say 1 device was loaded"
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    if expect 200 "$code" "authz after a restart"; then
        xposture_all "authz after a restart"
        [ "$(header X-Posture-Token)" = "$ear" ] || fail "restart: not the stored EAR"
    fi
    # every policy answers from the store as before the restart
    after=$(pa_decision)
    [ "$after" = "$before" ] || fail "payments-admin after a restart: '$after', before: '$before'"
    code=$(gateway '/v1/authz?policy=baseline' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "baseline after a restart" &&
        { [ "$(json 'j["type"]')" = "urn:posture:problem:posture-failed" ] || fail "restart: baseline type '$(json 'j["type"]')'"; }
    stop_server

    # payments-admin changed (another version), baseline removed: the old payments-admin
    # appraisal answers nothing (fail closed: not-appraised), baseline is no policy any more
    sed 's/"version": "[^"]*"/"version": "2099.1.1"/' "$tmp/policies/payments-admin.json" >"$tmp/pa.json"
    mv "$tmp/pa.json" "$tmp/policies/payments-admin.json"
    mv "$tmp/policies/baseline.json" "$tmp/baseline.json.off"
    start_server
    code=$(gateway /v1/authz -H "X-Client-Cert: $xcc")
    expect 200 "$code" "the default policy after the policy change" || true
    code=$(gateway '/v1/authz?policy=payments-admin' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "payments-admin changed since its appraisal" &&
        { [ "$(json 'j["type"]')" = "urn:posture:problem:not-appraised" ] || fail "changed payments-admin type '$(json 'j["type"]')'"; }
    code=$(gateway '/v1/authz?policy=baseline' -H "X-Client-Cert: $xcc")
    expect 503 "$code" "baseline removed from the configuration" || true
    # the next report fills every policy again, under its new version
    challenge || { show_log; exit 1; }
    report "$nonce" r2
    code=$(submit r2)
    expect 201 "$code" "POST /v1/posture after the policy change" || true
    code=$(gateway '/v1/authz?policy=payments-admin' -H "X-Client-Cert: $xcc")
    if expect 403 "$code" "payments-admin after the next report"; then
        [ "$(json 'j["type"]')" = "urn:posture:problem:posture-failed" ] || fail "payments-admin type '$(json 'j["type"]')'"
        case "$(header X-Posture-Policy)" in
        payments-admin@2099.1.1 | "") ;;
        *) fail "payments-admin answered under '$(header X-Posture-Policy)'" ;;
        esac
    fi
    stop_server
    mv "$tmp/baseline.json.off" "$tmp/policies/baseline.json"
}

case_refusals() {
    start_server
    enroll_device
    code=$(agent /v1/challenge -X POST)
    expect 401 "$code" "challenge without a certificate" || true
    code=$(agent /v1/posture -H 'Content-Type: application/json' --data-binary '{"report":"x"}')
    expect 401 "$code" "posture without a certificate" || true
    code=$(device /v1/posture -H 'Content-Type: application/json' --data-binary '{"report":1}')
    expect 400 "$code" "a malformed submission" &&
        { [ "$(json 'j["reason"]')" = submission-malformed ] || fail "malformed: reason '$(json 'j["reason"]')'"; }
    # a nonce never issued
    report AAAAAAAAAAAAAAAAAAAAAA r1
    code=$(submit r1)
    expect 400 "$code" "an unknown nonce" &&
        { [ "$(json 'j["reason"]')" = nonce-unknown ] || fail "unknown nonce: reason '$(json 'j["reason"]')'"; }
    [ -n "$(header Replay-Nonce)" ] || fail "unknown nonce: no Replay-Nonce"
    # a forged signature: the nonce is consumed, then the JWS refused
    challenge || exit 1
    report "$nonce" r2
    "$py" - "$tmp/r2.jws" >"$tmp/r2.json" <<'PY'
import json, sys
t = open(sys.argv[1]).read().strip()
h, p, s = t.split(".")
s = ("A" if s[0] != "A" else "B") + s[1:]
print(json.dumps({"report": ".".join((h, p, s))}))
PY
    code=$(submit r2)
    expect 400 "$code" "a forged report signature" &&
        { [ "$(json 'j["type"]')" = "urn:posture:problem:report-rejected" ] || fail "forged: type '$(json 'j["type"]')'"; }
    # enrolment refusals
    code=$(agent /v1/enroll -H 'Content-Type: application/json' --data-binary '{"token":1}')
    expect 400 "$code" "a malformed enrolment" &&
        { [ "$(json 'j["type"]')" = "urn:posture:problem:enroll-request-malformed" ] || fail "enroll malformed: type '$(json 'j["type"]')'"; }
    code=$(agent /v1/enroll -H 'Content-Type: application/json' --data-binary @"$tmp/enroll.json")
    expect 401 "$code" "a used token" &&
        { [ "$(json 'j["type"]')" = "urn:posture:problem:enroll-token-used" ] || fail "used token: type '$(json 'j["type"]')'"; }
    # an activation without the proof of possession (an older agent's): 400 naming "pop"
    code=$(agent /v1/enroll/activate -H 'Content-Type: application/json' \
        --data-binary "{\"device_id\":\"$kid\",\"proof\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}")
    expect 400 "$code" "an unsigned activation" &&
        { [ "$(json 'j["type"]')" = "urn:posture:problem:enroll-pop-missing" ] || fail "unsigned activation: type '$(json 'j["type"]')'"; }
    # each route on its listener only
    code=$(gateway /v1/challenge -X POST)
    expect 404 "$code" "/v1/challenge on the gateway listener" || true
    code=$(device /v1/authz)
    expect 404 "$code" "/v1/authz on the agent listener" || true
    stop_server
}

case_tpm() {
    for t in tpm2_getcap sqlite3; do
        command -v $t >/dev/null 2>&1 || { echo "$name: SKIP: $t is not installed"; exit 77; }
    done
    moddir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
    if [ ! -f "${OPENSSL_MODULES:-$moddir}/tpm2.so" ]; then
        echo "$name: SKIP: the tpm2 OpenSSL provider is not installed (tpm2-openssl)"
        exit 77
    fi
    . "$src/tests/lib/swtpm.sh"
    swtpm_start || exit $?
    trap 'cleanup; swtpm_stop' EXIT
    mkdir -p "$tmp/ek-roots"
    cp "$SWTPM_CA_ROOT" "$tmp/ek-roots/swtpm-root.pem"
    cp "$SWTPM_CA_ISSUER" "$tmp/ek-roots/swtpm-issuer.pem"
    # a policy that only the TPM can satisfy: the hardware tier and an accepted quote
    cat >"$tmp/policies/hw-quote.json" <<'EOF'
{
  "id": "hw-quote",
  "version": "1",
  "allow_warning": true,
  "device": {"trust_tier": "hardware", "pcr_quote": true},
  "checks": {
    "os.release": {
      "required": true,
      "evidence": [{"path": "/id", "op": "ne", "value": ""}]
    }
  }
}
EOF
    start_server
    "$pv" ca --config "$conf" >"$tmp/verifier-ca.pem" 2>"$tmp/err" || fail "posture-verifier ca: $(cat "$tmp/err")"
    tconf=$tmp/tpm-agent.conf
    cat >"$tconf" <<EOF
[agent]
state_dir = $tmp/tagent
[server]
url = https://127.0.0.1:$ap
ca = $tmp/verifier-ca.pem
[tpm]
enabled = yes
tcti = $SWTPM_TCTI
event_log = $tmp/no-event-log
EOF
    token=$("$pv" token create --config "$conf" 2>"$tmp/err") || fail "token create: $(cat "$tmp/err")"
    if ! "$pctl" enroll --token "$token" --config "$tconf" >"$tmp/enroll.out" 2>"$tmp/err"; then
        fail "posturectl enroll (TPM): $(cat "$tmp/enroll.out" "$tmp/err")"
        show_log
        exit 1
    fi
    tier=$(sqlite3 "$tmp/state/store.db" "SELECT tier FROM devices" 2>/dev/null)
    case $tier in
    hardware | 1) ;;
    *) fail "the device's tier in the store is '$tier', expected hardware" ;;
    esac
    [ -f "$tmp/tagent/device.crt" ] || { fail "no device.crt after enrolment"; exit 1; }
    xcc=$("$py" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$tmp/tagent/device.crt")

    for i in 1 2; do
        "$pctl" submit --json --only os.release --root "$root" --config "$tconf" \
            >"$tmp/submit$i.json" 2>"$tmp/err"
        [ -s "$tmp/submit$i.json" ] || fail "posturectl submit ($i): $(cat "$tmp/err")"
        clock=$(sqlite3 "$tmp/state/store.db" "SELECT clock FROM clockinfo" 2>/dev/null)
        [ -n "$clock" ] || fail "submit ($i): no TPM clock state recorded with the accepted quote"
        eval "clock$i=\$clock"
    done
    echo "$name: TPM clock state $clock1 then $clock2"
    # swtpm has no event log: the quote is proven, Secure Boot is not (a warning finding)
    "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="warning" and d["failed_checks"]==["no-event-log"] and d["seq"]==2, d' \
        "$tmp/submit2.json" 2>"$tmp/err" || fail "submit (2): not the expected answer: $(tail -n 1 "$tmp/err")"
    [ "${clock2:-0}" -gt "${clock1:-0}" ] 2>/dev/null ||
        fail "the TPM clock state did not move forward: ${clock1:-?} then ${clock2:-?}"

    code=$(gateway '/v1/authz?policy=hw-quote' -H "X-Client-Cert: $xcc")
    if expect 200 "$code" "authz (hw-quote) for the TPM device"; then
        "$py" - "$(header X-Posture-Token)" >"$tmp/py.out" 2>&1 <<'PY' || fail "hw-quote EAR: $(tail -n 2 "$tmp/py.out")"
import sys, jwt
c = jwt.decode(sys.argv[1], options={"verify_signature": False})
tv = c["submods"]["device"]["ear.trustworthiness-vector"]
assert tv.get("hardware") == 2, tv  # genuine hardware: the quote was accepted
PY
    fi
    code=$(gateway '/v1/authz?policy=payments-admin' -H "X-Client-Cert: $xcc")
    expect 403 "$code" "payments-admin without a Secure Boot proof (swtpm has no event log)" || true
    stop_server
}

case "$case_name" in
flow) case_flow ;;
tpm) case_tpm ;;
restart) case_restart ;;
refusals) case_refusals ;;
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
