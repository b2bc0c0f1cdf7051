#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# verifier.dpop/<case>: the token paths of /v1/authz (GATEWAYS.md §2.4, RFC 9449) end to end.
# Every case enrols a software-tier device with posturectl's key, submits a report, and takes
# the EAR from the 201 answer (python3-jwt checks it against the JWKS, and that its cnf.jkt is
# the RFC 7638 thumbprint of the device key, computed here). DPoP proofs are made by python3-jwt
# with the device's key file; curl calls the gateway listener as a trusted gateway (127.0.0.1)
# with X-Forwarded-Method/-Proto/-Host/-Uri for https://app.test.example/admin/users:
#   dpop    a valid proof → 200 with every X-Posture-* header (Cache-Control no-store); the same
#           proof again → 401 invalid_dpop_proof; proofs for another URI, another method, a
#           stale iat, without ath, signed by another key → 401; no DPoP header → 401; a
#           tampered EAR → 401 invalid_token; Envoy's form (/v1/authz/envoy/<path>, no
#           X-Forwarded-Uri, the request's own method) → 200, a proof for another method → 401; forged X-Forwarded-* from an untrusted peer (127.0.0.2)
#           are ignored → 401; one proof sent 16 times at once → one 200, fifteen 401; Bearer
#           refused by default → 401 invalid_token
#   bearer  [authz] bearer = yes: Authorization: Bearer <EAR> → 200; a tampered one → 401
#   revoke  `posture-verifier devices revoke` while serve runs, and again after a restart: the
#           same kind of valid request → 401/403 (fail closed), though the EAR has not expired
# Usage: dpop.sh CASE POSTURE_VERIFIER POSTURECTL SOURCE_DIR. Exits 77 when curl, openssl or
# python3-jwt is missing (1 in CI).
set -u

case_name=$1
pv=$2
pctl=$3
src=$4
name="verifier.dpop/$case_name"
py=/usr/bin/python3 # Debian's, which has python3-jwt

missing() {
    if [ "${CI:-}" = true ]; then
        echo "$name: FAIL: $1 is not installed (required in CI)" >&2
        exit 1
    fi
    echo "$name: SKIP: $1 is not installed"
    exit 77
}
for t in curl openssl "$py"; do
    command -v "$t" >/dev/null 2>&1 || missing "$t"
done
"$py" -c 'import jwt, cryptography' 2>/dev/null || missing python3-jwt
LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verifier-dpop.XXXXXX")
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
mkdir -p "$tmp/state" "$tmp/policies"
write_conf() { # [authz] bearer value
    cat >"$conf" <<EOF
[verifier]
state_dir = $tmp/state
trust_domain = test.example

[listen]
agents = 127.0.0.1:$ap
gateways = 127.0.0.1:$gp
trusted_gateways = 127.0.0.1/32
threads = 4

[tls]
cert = $tmp/tls.crt
key = $tmp/tls.key

[enroll]
ek_roots = $tmp/ek-roots

[policy]
dir = $tmp/policies
default = os-release-only

[authz]
bearer = $1
EOF
}
write_conf no
# a default policy that a software-tier device with the os.release check passes
cat >"$tmp/policies/os-release-only.json" <<'EOF'
{
  "id": "os-release-only",
  "version": "1",
  "description": "verifier.dpop test: the os.release check only",
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

# ---- the device: posturectl enroll and submit, the EAR ------------------------------------
astate=$tmp/agent/state
dkey=$astate/device.key
root=$src/tests/fixtures/roots/os-release/debian-12

enroll_and_report() {
    mkdir -p "$astate"
    cat >"$tmp/agent.conf" <<EOF
[agent]
state_dir = $astate
[server]
url = https://127.0.0.1:$ap
ca = $astate/verifier-ca.pem
[tpm]
enabled = no
EOF
    "$pv" ca --config "$conf" >"$tmp/verifier-ca.pem" 2>"$tmp/err" ||
        { fail "posture-verifier ca: $(cat "$tmp/err")"; exit 1; }
    token=$("$pv" token create --config "$conf" --label dpop-test 2>"$tmp/err") ||
        { fail "token create: $(cat "$tmp/err")"; exit 1; }
    "$pctl" enroll --server "https://127.0.0.1:$ap" --token "$token" --ca "$tmp/verifier-ca.pem" \
        --config "$tmp/agent.conf" >"$tmp/enroll.out" 2>&1 ||
        { fail "posturectl enroll: $(cat "$tmp/enroll.out")"; show_log; exit 1; }
    grep -q 'at trust tier software' "$tmp/enroll.out" || fail "enroll: not the software tier"
    kid=$("$pctl" key --jwk --config "$tmp/agent.conf" 2>/dev/null |
        "$py" -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
    # the EAR of the 201 answer, which posturectl submit stores
    "$pctl" submit --only os.release --root "$root" --config "$tmp/agent.conf" \
        >"$tmp/submit.out" 2>&1 || { fail "posturectl submit: $(cat "$tmp/submit.out")"; show_log; exit 1; }
    ear=$(cat "$astate/ear.jwt" 2>/dev/null)
    [ -n "$ear" ] || { fail "no EAR stored by posturectl submit"; exit 1; }
    # independent checks of the EAR: the JWKS signature, and cnf.jkt = RFC 7638 thumbprint of
    # the device's key (computed here from the key file, not taken from the verifier)
    curl -sS -o "$tmp/jwks.json" "http://127.0.0.1:$gp/.well-known/jwks.json" || fail "GET JWKS"
    if ! "$py" - "$tmp/jwks.json" "$ear" "$dkey" "$kid" >"$tmp/py.out" 2>&1 <<'PY'; then
import base64, hashlib, json, sys
import jwt
from cryptography.hazmat.primitives import serialization
jwks, token, keyfile, kid = sys.argv[1:5]
header = jwt.get_unverified_header(token)
assert header["typ"] == "eat+jwt" and header["alg"] == "ES256", header
k = [k for k in json.load(open(jwks))["keys"] if k["kid"] == header["kid"]]
assert len(k) == 1, "the EAR's kid is not in the JWKS"
c = jwt.decode(token, jwt.PyJWK(k[0]).key, algorithms=["ES256"], options={"verify_aud": False})
key = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)
n = key.public_key().public_numbers()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
canon = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b64(n.x.to_bytes(32, "big")), b64(n.y.to_bytes(32, "big")))
jkt = b64(hashlib.sha256(canon.encode()).digest())
assert c["cnf"]["jkt"] == jkt, (c["cnf"], jkt)
assert "x5t#S256" in c["cnf"], c["cnf"]
assert c["sub"] == "spiffe://test.example/device/" + kid, c["sub"]
print("ok")
PY
        fail "the EAR: $(tail -n 3 "$tmp/py.out")"
    fi
}

# proof KEYFILE METHOD HTU [JTI] [IAT_OFFSET] [ATH_TOKEN]: a DPoP proof by python3-jwt (ath of
# ATH_TOKEN, default the EAR; "-" leaves ath out)
proof() {
    "$py" - "$1" "$2" "$3" "${4:-}" "${5:-0}" "${6:-$ear}" <<'PY'
import base64, hashlib, sys, time, uuid
import jwt
from cryptography.hazmat.primitives import serialization
keyfile, htm, htu, jti, off, token = sys.argv[1:7]
key = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)
n = key.public_key().public_numbers()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
claims = {"jti": jti or str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time()) + int(off)}
if token != "-":
    claims["ath"] = b64(hashlib.sha256(token.encode()).digest())
print(jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk}))
PY
}

app=https://app.test.example/admin/users
# authz PROOF [curl args]: /v1/authz as nginx sends it for GET https://app.test.example/admin/users
authz() {
    p=$1
    shift
    gateway /v1/authz -H "Authorization: DPoP $ear" -H "DPoP: $p" -H "X-Forwarded-Method: GET" \
        -H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: app.test.example" \
        -H "X-Forwarded-Uri: /admin/users?tab=1" "$@"
}
# expect_401 CODE WHAT ERROR: a 401 with WWW-Authenticate: DPoP error="ERROR"
expect_401() {
    expect 401 "$1" "$2" || return 1
    case $(header WWW-Authenticate) in
    "DPoP error=\"$3\", algs=\"ES256\"") ;;
    *) fail "$2: WWW-Authenticate is '$(header WWW-Authenticate)', expected DPoP error=\"$3\"" ;;
    esac
    [ "$(header Cache-Control)" = no-store ] || fail "$2: Cache-Control is '$(header Cache-Control)'"
    # the answer names no check
    if grep -q -i -E 'htu|htm|jti|ath|jkt|iat|replay|signature' "$tmp/out"; then
        fail "$2: the body says which check failed: $(head -c 200 "$tmp/out")"
    fi
}
xposture_all() {
    for h in X-Posture-Status X-Posture-Device-Id X-Posture-Policy X-Posture-Expires X-Posture-Token; do
        [ -n "$(header $h)" ] || fail "$1: no $h header"
    done
    [ "$(header X-Posture-Device-Id)" = "spiffe://test.example/device/$kid" ] ||
        fail "$1: X-Posture-Device-Id is '$(header X-Posture-Device-Id)'"
    [ "$(header X-Posture-Policy)" = "os-release-only@1" ] ||
        fail "$1: X-Posture-Policy is '$(header X-Posture-Policy)'"
}

# ---- cases ------------------------------------------------------------------------------
case_dpop() {
    start_server
    enroll_and_report
    key=$dkey

    p=$(proof "$key" GET "$app")
    code=$(authz "$p")
    if expect 200 "$code" "a valid DPoP proof"; then
        xposture_all "a valid DPoP proof"
        [ "$(header X-Posture-Status)" = affirming ] || [ "$(header X-Posture-Status)" = warning ] ||
            fail "valid proof: X-Posture-Status '$(header X-Posture-Status)'"
        [ "$(header Cache-Control)" = no-store ] ||
            fail "valid proof: Cache-Control '$(header Cache-Control)', expected no-store"
    else
        show_log
    fi
    code=$(authz "$p")
    expect_401 "$code" "the same proof again (replay)" invalid_dpop_proof

    p=$(proof "$key" GET https://app.test.example/admin/other)
    code=$(authz "$p")
    expect_401 "$code" "a proof for another URI" invalid_dpop_proof
    p=$(proof "$key" GET https://evil.example/admin/users)
    code=$(authz "$p")
    expect_401 "$code" "a proof for another host" invalid_dpop_proof
    p=$(proof "$key" POST "$app")
    code=$(authz "$p")
    expect_401 "$code" "a proof for another method" invalid_dpop_proof
    p=$(proof "$key" GET "$app" "" -120)
    code=$(authz "$p")
    expect_401 "$code" "a proof two minutes old" invalid_dpop_proof
    p=$(proof "$key" GET "$app" "" 0 -)
    code=$(authz "$p")
    expect_401 "$code" "a proof without ath" invalid_dpop_proof
    p=$(proof "$key" GET "$app" "" 0 "another.access.token")
    code=$(authz "$p")
    expect_401 "$code" "a proof for another token (ath)" invalid_dpop_proof
    # a stolen EAR with the thief's own key
    openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
        openssl pkcs8 -topk8 -nocrypt -out "$tmp/thief.key" 2>/dev/null || fail "openssl: a P-256 key"
    p=$(proof "$tmp/thief.key" GET "$app")
    code=$(authz "$p")
    expect_401 "$code" "a proof by another key than cnf.jkt" invalid_dpop_proof
    code=$(gateway /v1/authz -H "Authorization: DPoP $ear" -H "X-Forwarded-Method: GET" \
        -H "X-Forwarded-Proto: https" -H "X-Forwarded-Host: app.test.example" \
        -H "X-Forwarded-Uri: /admin/users")
    expect_401 "$code" "no DPoP header" invalid_dpop_proof
    # a tampered EAR (one payload character changed)
    good=$ear
    ear=$("$py" -c 'import sys; h,p,s=sys.argv[1].split("."); i=len(p)//2; c="A" if p[i]!="A" else "B"; print(h+"."+p[:i]+c+p[i+1:]+"."+s)' "$good")
    p=$(proof "$key" GET "$app")
    code=$(authz "$p")
    expect_401 "$code" "a tampered EAR" invalid_token
    ear=$good

    # Envoy: the original path below path_prefix /v1/authz/envoy (envoy.yaml) or /v1/authz, no
    # X-Forwarded-Uri, the original method as the request's own
    p=$(proof "$key" GET "$app")
    code=$(gateway /v1/authz/envoy/admin/users -H "Authorization: DPoP $ear" -H "DPoP: $p" \
        -H "X-Forwarded-Proto: https" -H "Host: app.test.example")
    expect 200 "$code" "Envoy's form (/v1/authz/envoy/admin/users)" && xposture_all "Envoy's form"
    p=$(proof "$key" GET "$app")
    code=$(gateway /v1/authz/admin/users -H "Authorization: DPoP $ear" -H "DPoP: $p" \
        -H "X-Forwarded-Proto: https" -H "Host: app.test.example")
    expect 200 "$code" "Envoy's form (/v1/authz/admin/users)" || true
    p=$(proof "$key" POST "$app")
    code=$(gateway /v1/authz/envoy/admin/users -X POST -H "Authorization: DPoP $ear" \
        -H "DPoP: $p" -H "X-Forwarded-Proto: https" -H "Host: app.test.example")
    expect 200 "$code" "Envoy's form, POST" || true
    p=$(proof "$key" GET "$app")
    code=$(gateway /v1/authz/envoy/admin/users -X POST -H "Authorization: DPoP $ear" \
        -H "DPoP: $p" -H "X-Forwarded-Proto: https" -H "Host: app.test.example")
    expect_401 "$code" "Envoy's form, a GET proof for a POST" invalid_dpop_proof
    # forged X-Forwarded-* from a peer that is not a trusted gateway are ignored
    p=$(proof "$key" GET "$app")
    code=$(authz "$p" --interface 127.0.0.2)
    expect_401 "$code" "X-Forwarded-* from an untrusted peer" invalid_dpop_proof

    # the same fresh proof 16 times at once (the listener's worker threads): exactly one 200
    p=$(proof "$key" GET "$app")
    pids=
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
        curl -sS --max-time 20 -o /dev/null -w '%{http_code}\n' -H "Authorization: DPoP $ear" \
            -H "DPoP: $p" -H "X-Forwarded-Method: GET" -H "X-Forwarded-Proto: https" \
            -H "X-Forwarded-Host: app.test.example" -H "X-Forwarded-Uri: /admin/users" \
            "http://127.0.0.1:$gp/v1/authz" >"$tmp/par.$i" 2>&1 &
        pids="$pids $!"
    done
    for q in $pids; do
        wait "$q"
    done
    ok=$(cat "$tmp"/par.* | grep -c '^200$')
    refused=$(cat "$tmp"/par.* | grep -c '^401$')
    [ "$ok" = 1 ] && [ "$refused" = 15 ] ||
        fail "one proof sent 16 times at once: $ok × 200 and $refused × 401, expected 1 and 15"

    # Bearer: off by default
    code=$(gateway /v1/authz -H "Authorization: Bearer $ear")
    expect_401 "$code" "Bearer (off by default)" invalid_token
    # the forwarded-certificate path is unchanged: no credential at all is still 401
    code=$(gateway /v1/authz)
    expect 401 "$code" "no credential" || true

    # metrics count the decisions
    curl -sS -o "$tmp/metrics" "http://127.0.0.1:$gp/metrics" || fail "GET /metrics"
    grep -q 'posture_decisions_total{result="allow"} 5' "$tmp/metrics" ||
        fail "metrics: not 5 allowed decisions: $(grep posture_decisions_total "$tmp/metrics")"
    stop_server
}

case_bearer() {
    write_conf yes
    start_server
    enroll_and_report
    code=$(gateway /v1/authz -H "Authorization: Bearer $ear")
    expect 200 "$code" "Bearer with [authz] bearer = yes" && xposture_all "Bearer"
    case $(header Cache-Control) in
    max-age=*) ;;
    *) fail "Bearer: Cache-Control is '$(header Cache-Control)', expected max-age=N" ;;
    esac
    code=$(gateway /v1/authz -H "Authorization: Bearer ${ear}x")
    expect_401 "$code" "a tampered Bearer token" invalid_token
    code=$(gateway /v1/authz -H "Authorization: Bearer not-a-token")
    expect_401 "$code" "a Bearer token that is no JWT" invalid_token
    # DPoP still works next to it
    p=$(proof "$dkey" GET "$app")
    code=$(authz "$p")
    expect 200 "$code" "DPoP with bearer = yes" || true
    stop_server
}

case_revoke() {
    start_server
    enroll_and_report
    p=$(proof "$dkey" GET "$app")
    code=$(authz "$p")
    expect 200 "$code" "a valid proof before the revocation" || show_log
    # revoked while serve runs (another process): refused within 3 s
    "$pv" devices revoke "$kid" --config "$conf" >"$tmp/revoke.out" 2>&1 ||
        fail "devices revoke: $(cat "$tmp/revoke.out")"
    i=0
    code=200
    while [ $i -lt 30 ] && [ "$code" = 200 ]; do
        p=$(proof "$dkey" GET "$app")
        code=$(authz "$p")
        [ "$code" = 200 ] && sleep 0.1
        i=$((i + 1))
    done
    case $code in
    401 | 403) ;;
    *) fail "a valid proof of a device revoked while serve runs: HTTP $code, expected 401 or 403" ;;
    esac
    stop_server
    start_server
    # the EAR is still within its 300 s; the device is revoked: fail closed
    p=$(proof "$dkey" GET "$app")
    code=$(authz "$p")
    case $code in
    401 | 403) ;;
    *) fail "a valid proof of a revoked device: HTTP $code, expected 401 or 403" ;;
    esac
    [ -z "$(header X-Posture-Token)" ] || fail "revoked: an X-Posture-Token was sent"
    stop_server
}

case "$case_name" in
dpop) case_dpop ;;
bearer) case_bearer ;;
revoke) case_revoke ;;
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
