#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# verifier.attacks/<case>: attacks on the running `posture-verifier serve` (issue 5, "Attack
# tests"). Two software-tier devices, A and B, enrol with `posturectl enroll`; their reports come
# from `posturectl report --nonce` and are re-signed by python3 (cryptography) with the device's
# own key file after exactly one change, so each attack is the only thing wrong with a request
# that is otherwise accepted (a re-signed, unchanged report is the positive control).
# attacks_tool.py drives the cases; after every one of them serve is still alive (kill -0), answers
# /healthz, and the store passes `posture-verifier audit verify`.
#   jws        GATEWAYS.md §4.6 against POST /v1/posture: alg none/HS256 (the device public key as
#              the secret)/ES384/RS256..., typ, kid (missing, unknown, device B's), jwk/x5c
#              headers, iss/aud, iat/exp/nbf, jti/seq replay (the duplicate answer), > 16 KiB,
#              a nonce of another device, a reused nonce, no JWS, duplicate keys, 10,000-deep
#              nesting; each 400 with its problem type, and no appraisal row (sqlite3)
#   rows       ATTESTATION.md §6 rows 5 (nonce not issued, expired, reused, another device's,
#              a constant), 11 (a device revoked by another process; TPM evidence from a
#              software-tier device), 15/16
#              over HTTP (token reuse, 20 concurrent enrolments with one token, re-enrolment of
#              a known key), 31 (non-canonical base64url, oversized fields)
#   forwarded  forged forwarded-certificate headers in every format from a non-gateway peer;
#              from the gateway, a self-signed certificate with device A's subject and SAN; and
#              malformed headers: 401, never a 5xx
#   limits     on both listeners: bodies over the limit (Content-Length, chunked, chunked that
#              never ends), a 1 MB header, 10,000 headers, a slow-loris client, a client that
#              never reads; each refused or cut within the timeouts while another client is
#              answered in < 5 s
#   tokens     GATEWAYS.md §4.6 for the other tokens, at /v1/authz ([authz] bearer = yes): EARs
#              re-signed with the verifier's own key after one change (alg, typ, kid, jwk, iss,
#              aud, exp, iat, lifetime, sub, size, a posture report in its place) by Bearer and
#              DPoP, and DPoP proofs by device A's key (alg, typ, jwk, d, x5c, signer, cnf.jkt,
#              htm, htu, iat, ath, jti, size, a replayed proof, forged X-Forwarded-* from a
#              non-gateway peer): each 401 invalid-token
#   flood      1,000 connections open at once to /v1/authz (python asyncio), twice: 200 for
#              device A's forwarded certificate, 401 for none or a forged one, or a clean
#              refusal; then 300 mTLS connections of A at once, a challenge on each (all nonces
#              distinct); serve's RSS printed and bounded, its descriptors back
# Usage: attacks.sh CASE POSTURE_VERIFIER POSTURECTL SOURCE_DIR. Outside CI, exits 77 when curl,
# openssl, sqlite3 or python3-jwt/cryptography is missing; in CI (CI=true) that is a failure.
set -u

case_name=$1
pv=$2
pctl=$3
src=$4
here=$(cd "$(dirname "$0")" && pwd)
name="verifier.attacks/$case_name"
py=/usr/bin/python3 # Debian's, which has python3-jwt and python3-cryptography

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
"$py" -c 'import jwt, cryptography' 2>/dev/null || missing "python3-jwt or python3-cryptography"
LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true
# the flood case opens 1,000 connections; serve inherits the limit
ulimit -n 8192 2>/dev/null || ulimit -n 4096 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verifier-attacks.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

show_log() {
    echo "  --- server log (last 60 lines):" >&2
    tail -n 60 "$tmp/log" | sed 's/^/  | /' >&2
}
die() {
    echo "$name: FAIL: $*" >&2
    show_log
    exit 1
}

free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ap=$(free_port)
gp=$(free_port)
conf=$tmp/verifier.conf
mkdir -p "$tmp/state" "$tmp/policies" "$tmp/ek-roots"
# short timeouts so that the slow clients are cut quickly; the body limits explicit
cat >"$conf" <<EOF
[verifier]
state_dir = $tmp/state
trust_domain = test.example

[listen]
agents = 127.0.0.1:$ap
gateways = 127.0.0.1:$gp
trusted_gateways = 127.0.0.1/32
threads = 2
request_timeout = 3s
idle_timeout = 5s
body_max = 64K
posture_body_max = 256K

[tls]
cert = $tmp/tls.crt
key = $tmp/tls.key

[enroll]
ek_roots = $tmp/ek-roots

[policy]
dir = $tmp/policies
default = os-release-only
EOF
if [ "$case_name" = tokens ]; then
    printf '\n[authz]\nbearer = yes\n' >>"$conf"
fi
cat >"$tmp/policies/os-release-only.json" <<'EOF'
{
  "id": "os-release-only",
  "version": "1",
  "description": "verifier.attacks: the os.release check only",
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

"$pv" serve --config "$conf" >>"$tmp/log" 2>&1 &
pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$gp/healthz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "serve exited at start"
    i=$((i + 1))
    [ $i -lt 150 ] || die "serve did not start"
    sleep 0.1
done

# ---- devices A and B: posturectl enroll at the software tier ----------------------------
enroll() { # NAME
    d=$tmp/dev-$1
    mkdir -p "$d/state"
    cat >"$d/agent.conf" <<EOF
[agent]
state_dir = $d/state
[server]
url = https://127.0.0.1:$ap
ca = $tmp/tls.crt
[tpm]
enabled = no
EOF
    token=$("$pv" token create --config "$conf" --label "attacks-$1" 2>"$tmp/err") ||
        die "token create: $(cat "$tmp/err")"
    "$pctl" enroll --token "$token" --config "$d/agent.conf" >"$d/enroll.out" 2>&1 ||
        die "posturectl enroll ($1): $(cat "$d/enroll.out")"
    [ -s "$d/state/device.crt" ] || die "posturectl enroll ($1): no device.crt"
    openssl verify -CAfile "$tmp/state/device-ca.pem" -purpose sslclient "$d/state/device.crt" \
        >/dev/null 2>&1 || die "device $1's certificate does not chain to the device CA (openssl)"
}
enroll A
enroll B

# a report of device A from posturectl, the template the forgeries start from
root=$src/tests/fixtures/roots/os-release/debian-12
nonce=$(curl -sS --max-time 10 --cacert "$tmp/tls.crt" --cert "$tmp/dev-A/state/device.crt" \
    --key "$tmp/dev-A/state/device.key" -X POST "https://127.0.0.1:$ap/v1/challenge" |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["nonce"])') || die "POST /v1/challenge"
"$pctl" report --nonce "$nonce" --root "$root" --only os.release --config "$tmp/dev-A/agent.conf" \
    >"$tmp/template.jws" 2>"$tmp/err" || die "posturectl report: $(cat "$tmp/err")"

cat >"$tmp/env.json" <<EOF
{"pid": $pid, "pv": "$pv", "pctl": "$pctl", "conf": "$conf", "tmp": "$tmp",
 "agents": $ap, "gateways": $gp, "tls_cert": "$tmp/tls.crt",
 "store": "$tmp/state/store.db", "state_dir": "$tmp/state", "device_ca": "$tmp/state/device-ca.pem",
 "template": "$tmp/template.jws", "root": "$root", "src": "$src",
 "devices": {"A": "$tmp/dev-A", "B": "$tmp/dev-B"}}
EOF

"$py" "$here/attacks_tool.py" "$case_name" "$tmp/env.json"
rc=$?
kill -0 "$pid" 2>/dev/null || { rc=1; echo "$name: FAIL: serve is gone" >&2; }
if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    src_rc=$?
    pid=
    if [ "$src_rc" != 0 ]; then
        echo "$name: FAIL: serve exited with $src_rc after SIGTERM (ASan?)" >&2
        rc=1
    fi
fi
"$pv" audit verify --config "$conf" >"$tmp/audit.out" 2>&1 ||
    { rc=1; echo "$name: FAIL: audit verify after the stop: $(cat "$tmp/audit.out")" >&2; }
if [ "$rc" != 0 ]; then
    show_log
    echo "$name: FAILED" >&2
    exit 1
fi
echo "$name: ok"
exit 0
