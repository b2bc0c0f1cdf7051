# SPDX-License-Identifier: Apache-2.0
# Sourced by the gateway tests: the shared start and set-up (with tests/lib/verifier.sh) and the cases
# every forward-auth gateway must pass. POSIX sh.
#   gw_setup          verifier (policies "baseline", a test policy the device passes, and the
#                     shipped "payments-admin"), an enrolled device that submitted a report
#                     (CRT, KEY), the echo upstream (UP), a site certificate for
#                     admin.shop.example (site.pem, site.key)
#   gw_cases          the cases, against the gateway at $S with curl options $C:
#     1. the device → 200 from the upstream with every X-Posture-* header; the token verifies
#        with python3-jwt against the JWKS and is bound to the device certificate;
#     2. a client's own X-Posture-* headers never reach the upstream as sent;
#     3. /payments/ (payments-admin wants the hardware tier) → 403 with the verifier's
#        problem+json;
#     4. the client cannot pick its policy with ?policy= or an X-Posture-Policy header;
#     5. no client certificate → 401 with WWW-Authenticate;
#     6. the verifier stopped → never 200 (for a device the gateway has not cached).
#   gw_begin GATEWAY  the common start (before gw_setup): GATEWAY and the other tools present
#                     (exit 77 when one is missing, a failure under CI=true), the work
#                     directory $W as the current directory, PIDS killed and $W removed at
#                     exit (kept with POSTURE_TEST_KEEP=1), pass/fail and $status
# The caller sets name, SRCDIR, PV and CTL.

gw_begin() {
    for t in "$1" curl openssl python3 jq; do
        command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || {
            [ "${CI:-}" = true ] && { echo "$name: FAIL: $t is not installed (packaging/install-deps.sh installs it)"; exit 1; }
            echo "$name: SKIP: $t is not installed (packaging/install-deps.sh installs it)"
            exit 77
        }
    done
    W=$(mktemp -d "${TMPDIR:-/tmp}/posture-gateway.XXXXXX")
    PIDS=""
    status=0
    trap cleanup EXIT INT TERM
    [ -n "${POSTURE_TEST_KEEP:-}" ] && trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; echo "kept $W"' EXIT
    cd "$W" || exit 2
    . "$SRCDIR/tests/lib/verifier.sh"
}
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
pass() { echo "$name: ok: $*"; }
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}

gw_setup() {
    vt_verifier_conf baseline
    cp "$SRCDIR/packaging/policies/payments-admin.json" "$W/policies/"
    cat >"$W/policies/baseline.json" <<'EOC'
{ "id": "baseline", "version": "1", "description": "test: the OS is identified",
  "checks": { "os.release": { "evidence": [ { "path": "/id", "op": "ne", "value": "" } ] } } }
EOC
    vt_verifier_start || return 1
    vt_enrol agent || {
        fail "posturectl enroll: $(cat "$W/agent.err")"
        return 1
    }
    pass "posturectl enroll: $(head -n 1 "$W/agent.out")"
    "$CTL" submit --config "$W/agent.conf" --only os.release >"$W/submit.out" 2>"$W/submit.err" || {
        fail "posturectl submit: $(cat "$W/submit.out" "$W/submit.err")"
        return 1
    }
    KEY=$W/agent/device.key
    CRT=$W/agent/device.crt
    UP=$(vt_free_port)
    python3 "$SRCDIR/tests/lib/echo_upstream.py" "$UP" &
    PIDS="$PIDS $!"
    vt_wait_http "http://127.0.0.1:$UP/" || {
        fail "the upstream did not start"
        return 1
    }
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/site.key" \
        -out "$W/site.pem" -days 2 -subj /CN=admin.shop.example \
        -addext subjectAltName=DNS:admin.shop.example,IP:127.0.0.1 2>/dev/null
}

_gw_code() { curl -sS -o "$W/body" -D "$W/headers" -w '%{http_code}' $C "$@" 2>>"$W/curl.err"; }

gw_cases() {
    b=$W/body
    # 1.
    c=$(_gw_code --cert "$CRT" --key "$KEY" "$S/")
    if [ "$c" = 200 ] && [ "$(jq -r '."x-posture-status"' "$b")" = affirming ] &&
        jq -e '."x-posture-device-id" | startswith("spiffe://test.example/device/")' "$b" >/dev/null &&
        [ "$(jq -r '."x-posture-policy"' "$b")" = baseline@1 ] &&
        jq -e '."x-posture-expires" | test("^[0-9]+$")' "$b" >/dev/null &&
        [ "$(jq -r '."x-posture-token" | split(".") | length' "$b")" = 3 ]; then
        pass "compliant device: 200 from the upstream with X-Posture-* ($(jq -c '{s: ."x-posture-status", p: ."x-posture-policy"}' "$b"))"
    else
        fail "compliant device: HTTP $c $(cat "$b")"
    fi
    curl -s "http://127.0.0.1:$GP/.well-known/jwks.json" >"$W/jwks.json"
    jq -r '."x-posture-token"' "$b" >"$W/ear.jwt"
    if /usr/bin/python3 - "$W/jwks.json" "$W/ear.jwt" "$CRT" <<'EOC'
import base64, hashlib, json, ssl, sys, jwt
from jwt.algorithms import ECAlgorithm
keys = {k["kid"]: ECAlgorithm.from_jwk(json.dumps(k)) for k in json.load(open(sys.argv[1]))["keys"]}
tok = open(sys.argv[2]).read().strip()
h = jwt.get_unverified_header(tok)
assert h["typ"] == "eat+jwt", h
c = jwt.decode(tok, keys[h["kid"]], algorithms=["ES256"], options={"verify_aud": False})
der = ssl.PEM_cert_to_DER_cert(open(sys.argv[3]).read())
x5t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
assert c["cnf"]["x5t#S256"] == x5t, (c["cnf"], x5t)
EOC
    then pass "the X-Posture-Token verifies (python3-jwt, JWKS) and is bound to the device certificate"; else fail "EAR verification"; fi

    # 2.
    c=$(_gw_code --cert "$CRT" --key "$KEY" -H 'X-Posture-Status: forged' -H 'X-Posture-Token: forged' "$S/")
    [ "$c" = 200 ] && [ "$(jq -r '."x-posture-status"' "$b")" = affirming ] &&
        [ "$(jq -r '."x-posture-token" | split(".") | length' "$b")" = 3 ] &&
        pass "a client's own X-Posture-* headers are replaced" || fail "forged header: HTTP $c $(cat "$b")"

    # 3.
    c=$(_gw_code --cert "$CRT" --key "$KEY" "$S/payments/x")
    if [ "$c" = 403 ] && grep -qi '^content-type: application/problem+json' "$W/headers" &&
        jq -e '.failed_checks | length > 0' "$b" >/dev/null; then
        pass "/payments/ under payments-admin: 403 naming $(jq -c .failed_checks "$b")"
    else
        fail "/payments/: HTTP $c $(cat "$b")"
    fi

    # 4.
    c=$(_gw_code --cert "$CRT" --key "$KEY" "$S/payments/x?policy=baseline")
    [ "$c" = 403 ] && pass "/payments/x?policy=baseline is still payments-admin: 403" ||
        fail "client-chosen policy (query) on /payments/: HTTP $c $(cat "$b")"
    c=$(_gw_code --cert "$CRT" --key "$KEY" -H 'X-Posture-Policy: baseline' "$S/payments/x")
    [ "$c" = 403 ] && pass "/payments/x with X-Posture-Policy: baseline is still payments-admin: 403" ||
        fail "client-chosen policy (header) on /payments/: HTTP $c $(cat "$b")"
    c=$(_gw_code --cert "$CRT" --key "$KEY" "$S/?policy=payments-admin&x=1")
    [ "$c" = 200 ] && [ "$(jq -r '."x-posture-policy"' "$b")" = baseline@1 ] &&
        pass "/?policy=payments-admin is still baseline: 200" ||
        fail "client-chosen policy (query) on /: HTTP $c $(cat "$b")"

    # 5.
    c=$(_gw_code "$S/")
    [ "$c" = 401 ] && grep -qi '^www-authenticate:' "$W/headers" &&
        pass "no client certificate: 401 with $(grep -i '^www-authenticate:' "$W/headers" | tr -d '\r')" ||
        fail "no certificate: HTTP $c $(cat "$W/headers")"

    # 6. With a device the gateway has never asked about, so that no cached answer (nginx
    #    keeps allow answers up to their max-age) hides the verifier's absence.
    vt_enrol agent2 && "$CTL" submit --config "$W/agent2.conf" --only os.release >/dev/null 2>"$W/agent2.err" ||
        fail "second device: $(cat "$W/agent2.err")"
    kill "$VPID" 2>/dev/null
    wait "$VPID" 2>/dev/null
    c=$(_gw_code --cert "$W/agent2/device.crt" --key "$W/agent2/device.key" "$S/")
    [ "$c" != 200 ] && [ "$c" -ge 500 ] && pass "verifier down: the gateway answers $c (fail closed)" ||
        fail "verifier down: HTTP $c"
}
