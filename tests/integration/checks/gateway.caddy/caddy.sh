#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The whole loop through real Caddy (Debian 12's 2.6.2): caddy.sh POSTURE_VERIFIER POSTURECTL
# SRCDIR. posture-verifier serve with two policies ("baseline" here a test policy the device
# passes, and the shipped "payments-admin", which wants the hardware tier); a device enrolled
# with `posturectl enroll` and `posturectl submit`; Caddy with the shipped
# packaging/gateways/Caddyfile (names, paths and ports rewritten, nothing else) in front of a
# python upstream that echoes the X-Posture-* headers it receives. Then:
#   the device → 200 from the upstream with every header, the token verifies (python3-jwt);
#   a client-sent X-Posture-Status never reaches the upstream as sent;
#   /payments/ → 403 with the verifier's problem+json passed to the client;
#   a client asking for /?policy=payments-admin or /payments/?policy=baseline does not pick
#   its policy (Caddy appends the client's query to a uri without one);
#   no client certificate → 401 with WWW-Authenticate; the verifier stopped → never 200.
set -u
PV=$1
CTL=$2
SRCDIR=$3
name=gateway.caddy
caddy=$(command -v caddy || echo /usr/bin/caddy)
for t in "$caddy" curl openssl python3 jq; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || {
        echo "$name: SKIP: $t is not installed (packaging/install-deps.sh installs it)"
        exit 77
    }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/posture-caddy.XXXXXX")
PIDS=""
status=0
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
[ -n "${POSTURE_TEST_KEEP:-}" ] && trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; echo "kept $W"' EXIT
pass() { echo "$name: ok: $*"; }
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}
cd "$W" || exit 2
. "$SRCDIR/tests/lib/verifier.sh"

# ---- the verifier and the device ----------------------------------------------------------
vt_verifier_conf baseline
cp "$SRCDIR/packaging/policies/payments-admin.json" policies/
cat >policies/baseline.json <<'EOC'
{ "id": "baseline", "version": "1", "description": "test: the OS is identified",
  "checks": { "os.release": { "evidence": [ { "path": "/id", "op": "ne", "value": "" } ] } } }
EOC
vt_verifier_start || exit 2
vt_enrol agent || { fail "posturectl enroll: $(cat agent.err)"; exit 1; }
pass "posturectl enroll: $(head -n 1 agent.out)"
"$CTL" submit --config agent.conf --only os.release >submit.out 2>submit.err ||
    fail "posturectl submit: $(cat submit.out submit.err)"
KEY=agent/device.key
CRT=agent/device.crt

# ---- the upstream and Caddy -----------------------------------------------------------------
UP=$(vt_free_port)
cat >upstream.py <<'EOC'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()
                           if k.lower().startswith("x-posture-")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOC
python3 upstream.py "$UP" &
PIDS="$PIDS $!"
vt_wait_http "http://127.0.0.1:$UP/" || { fail "the upstream did not start"; exit 1; }

CP=$(vt_free_port)
HP=$(vt_free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key \
    -out site.pem -days 2 -subj /CN=admin.shop.example \
    -addext subjectAltName=DNS:admin.shop.example 2>/dev/null
# The shipped file with this test's ports and paths; the global options keep Caddy off the
# machine's :80, :443 and :2019 and out of root's home.
{
    printf '{\n\tadmin off\n\thttp_port %s\n\thttps_port %s\n\tstorage file_system %s/caddy\n\tauto_https disable_redirects\n}\n' \
        "$HP" "$CP" "$W"
    sed -e "s|127.0.0.1:8081|127.0.0.1:$GP|" -e "s|127.0.0.1:8080|127.0.0.1:$UP|" \
        -e "s|/etc/caddy/tls/admin.pem|$W/site.pem|" -e "s|/etc/caddy/tls/admin.key|$W/site.key|" \
        -e "s|/etc/posture/device-ca.pem|$W/device-ca.pem|" \
        "$SRCDIR/packaging/gateways/Caddyfile"
} >Caddyfile
export XDG_DATA_HOME="$W/xdg" XDG_CONFIG_HOME="$W/xdg"
"$caddy" validate --adapter caddyfile --config Caddyfile >validate.out 2>&1 &&
    pass "caddy validate accepts the shipped Caddyfile" ||
    { fail "caddy validate: $(tail -n 5 validate.out)"; exit 1; }
"$caddy" run --adapter caddyfile --config Caddyfile >caddy.log 2>&1 &
PIDS="$PIDS $!"
S="https://admin.shop.example:$CP"
C="--cacert site.pem --resolve admin.shop.example:$CP:127.0.0.1"
vt_wait_http "$S/" $C || { fail "caddy did not start: $(tail -n 5 caddy.log)"; exit 1; }

code() { curl -sS -o body -D headers -w '%{http_code}' $C "$@" 2>>curl.err; }

# 1. The compliant device: the upstream answers and sees every decision header.
c=$(code --cert "$CRT" --key "$KEY" "$S/")
if [ "$c" = 200 ] && [ "$(jq -r '."x-posture-status"' body)" = affirming ] &&
    jq -e '."x-posture-device-id" | startswith("spiffe://test.example/device/")' body >/dev/null &&
    [ "$(jq -r '."x-posture-policy"' body)" = baseline@1 ] &&
    jq -e '."x-posture-expires" | test("^[0-9]+$")' body >/dev/null &&
    [ "$(jq -r '."x-posture-token" | split(".") | length' body)" = 3 ]; then
    pass "compliant device: 200 from the upstream with X-Posture-* ($(jq -c '{s: ."x-posture-status", p: ."x-posture-policy"}' body))"
else
    fail "compliant device: HTTP $c $(cat body) $(tail -n 5 caddy.log)"
fi
curl -s "http://127.0.0.1:$GP/.well-known/jwks.json" >jwks.json
jq -r '."x-posture-token"' body >ear.jwt
if /usr/bin/python3 - jwks.json ear.jwt "$CRT" <<'EOC'
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

# 2. A client-sent X-Posture-Status never reaches the upstream as it was sent.
c=$(code --cert "$CRT" --key "$KEY" -H 'X-Posture-Status: forged' -H 'X-Posture-Policy: forged' "$S/")
[ "$c" = 200 ] && [ "$(jq -r '."x-posture-status"' body)" = affirming ] &&
    [ "$(jq -r '."x-posture-policy"' body)" = baseline@1 ] &&
    pass "a client's own X-Posture-* headers are replaced" || fail "forged header: HTTP $c $(cat body)"

# 3. The stricter route: 403, the verifier's problem+json reaches the client, not the upstream.
c=$(code --cert "$CRT" --key "$KEY" "$S/payments/x")
if [ "$c" = 403 ] && grep -qi '^content-type: application/problem+json' headers &&
    jq -e '.failed_checks | length > 0' body >/dev/null; then
    pass "/payments/ under payments-admin: 403 naming $(jq -c .failed_checks body)"
else
    fail "/payments/: HTTP $c $(cat body)"
fi

# 4. The client cannot choose its policy through the query string.
c=$(code --cert "$CRT" --key "$KEY" "$S/payments/x?policy=baseline")
[ "$c" = 403 ] && pass "/payments/x?policy=baseline is still payments-admin: 403" ||
    fail "client-chosen policy on /payments/: HTTP $c $(cat body)"
c=$(code --cert "$CRT" --key "$KEY" "$S/?policy=payments-admin&x=1")
[ "$c" = 200 ] && [ "$(jq -r '."x-posture-policy"' body)" = baseline@1 ] &&
    pass "/?policy=payments-admin is still baseline: 200" ||
    fail "client-chosen policy on /: HTTP $c $(cat body)"

# 5. No client certificate: the verifier's 401 and its WWW-Authenticate reach the client.
c=$(code "$S/")
[ "$c" = 401 ] && grep -qi '^www-authenticate:' headers &&
    pass "no client certificate: 401 with $(grep -i '^www-authenticate:' headers | tr -d '\r')" ||
    fail "no certificate: HTTP $c $(cat headers)"

# 6. The verifier stopped: never 200.
kill "$VPID" 2>/dev/null
wait "$VPID" 2>/dev/null
c=$(code --cert "$CRT" --key "$KEY" "$S/")
[ "$c" != 200 ] && [ "$c" -ge 500 ] && pass "verifier down: Caddy answers $c (fail closed)" ||
    fail "verifier down: HTTP $c"

exit $status
