#!/bin/sh
# The whole loop through real nginx: nginx.sh POSTURE_VERIFIER POSTURECTL SRCDIR
#   1. posture-verifier serve (TLS agent listener, loopback gateway listener, two policies:
#      "compliant" (os.release must pass) as the default and the shipped "payments-admin");
#   2. a token, `posturectl enroll` (software tier), `posturectl submit` (os.release only);
#   3. nginx with the shipped packaging/gateways/nginx.conf and posture-authz.conf (paths and
#      ports rewritten, nothing else) in front of a python upstream that echoes the
#      X-Posture-* headers it receives;
#   then: the device → 200 from the upstream with the headers; /payments/ (payments-admin,
#   which wants the hardware tier) → 403 naming why; no client certificate → 401; a client
#   that sends its own X-Posture-Status gets it overwritten; the verifier stopped → nginx
#   denies (500), never 200.
set -u
PV=$1
CTL=$2
SRCDIR=$3
name=gateway.nginx
nginx=$(command -v nginx || echo /usr/sbin/nginx)
for t in "$nginx" curl openssl python3 jq; do
    command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || {
        echo "$name: SKIP: $t is not installed (packaging/install-deps.sh installs it)"
        exit 77
    }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/posture-nginx.XXXXXX")
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
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() { # wait_http URL [curl args]: until it answers at all
    i=0
    while [ $i -lt 100 ]; do
        curl -s -o /dev/null "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
cd "$W" || exit 2

# ---- the verifier --------------------------------------------------------------------------
AP=$(free_port)
GP=$(free_port)
mkdir -p state policies agent
cp "$SRCDIR/packaging/policies/payments-admin.json" policies/
cat >policies/compliant.json <<'EOC'
{ "id": "compliant", "version": "1", "description": "test: the OS is identified",
  "checks": { "os.release": { "evidence": [ { "path": "/id", "op": "ne", "value": "" } ] } } }
EOC
cat >verifier.conf <<EOC
[verifier]
state_dir = $W/state
trust_domain = test.example
[listen]
agents = 127.0.0.1:$AP
gateways = 127.0.0.1:$GP
trusted_gateways = 127.0.0.1/32
threads = 2
[tls]
cert = $W/state/tls.crt
key = $W/state/tls.key
[policy]
dir = $W/policies
default = compliant
EOC
start_verifier() {
    "$PV" serve --config verifier.conf >>verifier.log 2>&1 &
    VPID=$!
    PIDS="$PIDS $VPID"
    wait_http "http://127.0.0.1:$GP/healthz" || {
        echo "$name: the verifier did not start: $(tail -n 20 verifier.log)" >&2
        exit 2
    }
}
start_verifier
"$PV" ca --config verifier.conf >verifier-ca.pem 2>err || fail "ca: $(cat err)"
"$PV" ca --device --config verifier.conf >device-ca.pem 2>err || fail "ca --device: $(cat err)"

# ---- the agent: enrol, submit ---------------------------------------------------------------
cat >agent.conf <<EOC
[agent]
state_dir = $W/agent
[server]
url = https://127.0.0.1:$AP
ca = $W/verifier-ca.pem
[tpm]
enabled = no
EOC
TOKEN=$("$PV" token create --config verifier.conf 2>err) || fail "token create: $(cat err)"
if "$CTL" enroll --config agent.conf --server "https://127.0.0.1:$AP" --token "$TOKEN" \
    --ca verifier-ca.pem >enroll.out 2>enroll.err; then
    pass "posturectl enroll: $(head -n 1 enroll.out)"
else
    fail "posturectl enroll: $(cat enroll.err)"
    exit 1
fi
"$CTL" submit --config agent.conf --only os.release >submit.out 2>submit.err
rc=$?
[ $rc -eq 0 ] && pass "posturectl submit: affirming under the default policy" ||
    fail "posturectl submit: exit $rc: $(cat submit.out submit.err)"
# The device key (file) and certificate, for curl as the device's browser.
KEY=agent/device.key
CRT=agent/device.crt
[ -s "$CRT" ] || fail "no device certificate at $CRT"

# ---- the upstream and nginx -------------------------------------------------------------------
UP=$(free_port)
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
wait_http "http://127.0.0.1:$UP/" || { fail "the upstream did not start"; exit 1; }

NP=$(free_port)
# The site's certificate, from a throwaway CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key \
    -out site.pem -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
mkdir -p nginx/cache nginx/tmp
# nginx started as root runs its workers as nobody: they must reach the cache and temp dirs.
chmod 0711 "$W"
chmod 0777 nginx/cache nginx/tmp
# The shipped files, with the paths and ports of this test and nothing else changed.
sed -e "s|server 127.0.0.1:8081;|server 127.0.0.1:$GP;|" \
    -e "s|server 127.0.0.1:8080; # CHANGE: the protected application|server 127.0.0.1:$UP;|" \
    -e "s|/var/cache/nginx/posture|$W/nginx/cache|" \
    -e "s|listen 443 ssl;|listen 127.0.0.1:$NP ssl;|" \
    -e "s|/etc/nginx/tls/admin.pem|$W/site.pem|" -e "s|/etc/nginx/tls/admin.key|$W/site.key|" \
    -e "s|/etc/posture/device-ca.pem|$W/device-ca.pem|" \
    -e "s|/etc/nginx/snippets/posture-authz.conf|$W/posture-authz.conf|" \
    "$SRCDIR/packaging/gateways/nginx.conf" >posture.conf
cp "$SRCDIR/packaging/gateways/posture-authz.conf" posture-authz.conf
cat >nginx/nginx.conf <<EOC
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $W/nginx/tmp; proxy_temp_path $W/nginx/tmp;
    fastcgi_temp_path $W/nginx/tmp; uwsgi_temp_path $W/nginx/tmp; scgi_temp_path $W/nginx/tmp;
    include $W/posture.conf;
}
EOC
"$nginx" -t -e "$W/nginx/error.log" -p "$W/nginx" -c "$W/nginx/nginx.conf" >nginx-t.out 2>&1 ||
    { fail "nginx -t on the shipped configuration: $(cat nginx-t.out)"; exit 1; }
"$nginx" -e "$W/nginx/error.log" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
PIDS="$PIDS $!"
S="https://127.0.0.1:$NP"
C="--cacert site.pem"
wait_http "$S/" $C || { fail "nginx did not start: $(cat nginx/error.log)"; exit 1; }

code() { curl -sS -o body -D headers -w '%{http_code}' $C "$@" 2>>curl.err; }

# 1. The enrolled, compliant device: the upstream answers and sees every decision header.
c=$(code --cert "$CRT" --key "$KEY" "$S/")
if [ "$c" = 200 ] && [ "$(jq -r '."x-posture-status"' body)" = affirming ] &&
    jq -e '."x-posture-device-id" | startswith("spiffe://test.example/device/")' body >/dev/null &&
    [ "$(jq -r '."x-posture-policy"' body)" = compliant@1 ] &&
    [ "$(jq -r '."x-posture-token" | split(".") | length' body)" = 3 ]; then
    pass "compliant device: 200 from the upstream with X-Posture-* ($(jq -c '{s: ."x-posture-status", p: ."x-posture-policy"}' body))"
else
    fail "compliant device: HTTP $c $(cat body) $(tail -n 5 nginx/error.log)"
fi
# The EAR the upstream got verifies against the verifier's JWKS (python3-jwt).
curl -s "http://127.0.0.1:$GP/.well-known/jwks.json" >jwks.json
jq -r '."x-posture-token"' body >ear.jwt
if /usr/bin/python3 - jwks.json ear.jwt <<'EOC'
import json, sys, jwt
from jwt.algorithms import ECAlgorithm
keys = {k["kid"]: ECAlgorithm.from_jwk(json.dumps(k)) for k in json.load(open(sys.argv[1]))["keys"]}
tok = open(sys.argv[2]).read().strip()
h = jwt.get_unverified_header(tok)
assert h["typ"] == "eat+jwt", h
c = jwt.decode(tok, keys[h["kid"]], algorithms=["ES256"], options={"verify_aud": False})
assert c["submods"]["device"]["ear.status"] == "affirming", c
EOC
then pass "the X-Posture-Token verifies with python3-jwt against /.well-known/jwks.json"; else fail "EAR verification"; fi

# 2. A client-sent X-Posture-Status never reaches the upstream as it was sent.
c=$(code --cert "$CRT" --key "$KEY" -H 'X-Posture-Status: forged' "$S/")
[ "$c" = 200 ] && [ "$(jq -r '."x-posture-status"' body)" = affirming ] &&
    pass "a client's own X-Posture-Status is overwritten" || fail "forged header: $(cat body)"

# 3. A route under the stricter policy: 403, and nginx does not reach the upstream.
c=$(code --cert "$CRT" --key "$KEY" "$S/payments/x")
[ "$c" = 403 ] && pass "/payments/ under payments-admin (hardware tier required): 403" ||
    fail "/payments/: HTTP $c $(cat body)"
# The verifier's own answer names why (asked directly as nginx would).
curl -s -o direct.json -w '%{http_code}' -G --data-urlencode "policy=payments-admin" \
    -H "X-Client-Cert: $(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$CRT")" \
    "http://127.0.0.1:$GP/v1/authz" >direct.code
[ "$(cat direct.code)" = 403 ] && jq -e '.failed_checks | length > 0' direct.json >/dev/null &&
    pass "the 403 names what failed: $(jq -c .failed_checks direct.json)" ||
    fail "direct authz: $(cat direct.code) $(cat direct.json)"

# 4. No client certificate: 401 (the verifier says so, nginx passes it on).
c=$(code "$S/")
[ "$c" = 401 ] && pass "no client certificate: 401" || fail "no certificate: HTTP $c"

# 5. The verifier stopped: nginx denies (500), never 200, for a device whose answer is not in
#    nginx's cache; an answer cached before (max-age ≤ 30 s) is served until it expires —
#    that is what the cache is for, and why its lifetime is capped at 30 s.
mkdir -p agent2
sed "s|$W/agent\$|$W/agent2|" agent.conf >agent2.conf
T2=$("$PV" token create --config verifier.conf 2>err) || fail "token create: $(cat err)"
"$CTL" enroll --config agent2.conf --server "https://127.0.0.1:$AP" --token "$T2" \
    --ca verifier-ca.pem >/dev/null 2>enroll2.err || fail "second enroll: $(cat enroll2.err)"
"$CTL" submit --config agent2.conf --only os.release >/dev/null 2>submit2.err ||
    fail "second submit: $(cat submit2.err)"
kill "$VPID" 2>/dev/null
wait "$VPID" 2>/dev/null
c=$(code --cert agent2/device.crt --key agent2/device.key "$S/")
[ "$c" != 200 ] && [ "$c" -ge 500 ] && pass "verifier down: nginx answers $c for a device it has not cached (fail closed)" ||
    fail "verifier down: HTTP $c"
c=$(code --cert "$CRT" --key "$KEY" "$S/")
[ "$c" = 200 ] && pass "verifier down: a decision cached less than 30 s ago still serves" ||
    fail "verifier down, cached device: HTTP $c"

exit $status
