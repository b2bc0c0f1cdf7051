#!/bin/sh
# The second half of packaging/demo.sh (read its header): verifier, enrolment, report, nginx.
# Usage: demo-loop.sh SOURCE_DIR BUILD_DIR. Everything runs in a temporary directory that is
# removed at the end (DEMO_KEEP=1 keeps it and says where).
set -u
top=$1
build=$2
pv=$build/verifier/posture-verifier
pc=$build/agent/cli/posturectl
replay=$build/tests/lib/tpm_replay
py=/usr/bin/python3

step() {
    printf '\n==> %s\n' "$*"
}
die() {
    echo "demo.sh: $*" >&2
    exit 1
}
[ "$(id -u)" -eq 0 ] || die "the rest of the demo (swtpm, nginx, the TPM event log) needs root"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || die "nginx is not installed (packaging/install-deps.sh installs nginx-light)"

W=$(mktemp -d /tmp/posture-demo.XXXXXX)
chmod 0711 "$W" # nginx's workers (nobody) use its cache directory below
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    command -v swtpm_stop >/dev/null 2>&1 && swtpm_stop
    if [ -n "${DEMO_KEEP:-}" ]; then
        echo "demo.sh: kept $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {
    i=0
    while [ $i -lt 100 ]; do
        curl -s -o /dev/null "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
cd "$W" || exit 1
mkdir -p state policies ek-roots agent

# ---- the TPM --------------------------------------------------------------------------------
event_log=/sys/kernel/security/tpm0/binary_bios_measurements
if [ -e /dev/tpmrm0 ]; then
    step "Using this machine's TPM (/dev/tpmrm0)"
    tcti=device:/dev/tpmrm0
    echo "note: the verifier below trusts EK certificates from nowhere yet: put your TPM vendor's"
    echo "      CA in $W/ek-roots to enrol at the hardware tier; otherwise the software tier is used."
else
    step "No TPM here: a software TPM (swtpm) with an EK certificate from a throwaway CA"
    SWTPM_NO_STARTUP=1 # tpm_replay starts it, at the locality the log asks for
    export SWTPM_NO_STARTUP
    . "$top/tests/lib/swtpm.sh"
    swtpm_start || die "swtpm did not start"
    trap cleanup EXIT
    tcti=$SWTPM_TCTI
    cp "$SWTPM_CA_ROOT" ek-roots/demo-swtpm-root.pem   # trusted for this demo only
    cp "$SWTPM_CA_ISSUER" ek-roots/demo-swtpm-issuer.pem
    event_log=$top/tests/fixtures/eventlogs/gce-rhel8-secureboot.bin
    echo "Replaying the measured boot of a real Secure Boot VM ($(basename "$event_log")) into it:"
    "$replay" "$tcti" "$event_log" || die "replaying the event log failed"
fi

# ---- the verifier ---------------------------------------------------------------------------
step "Starting posture-verifier serve (policies: demo for the site, payments-admin for /payments/)"
AP=$(free_port)
GP=$(free_port)
cp "$top/packaging/policies/payments-admin.json" policies/
cat >policies/demo.json <<'EOC'
{ "id": "demo", "version": "1",
  "description": "demo: the OS is identified; a TPM-enrolled device whose measured boot shows Secure Boot on",
  "device": { "trust_tier": "hardware", "pcr_quote": true, "secure_boot": true },
  "checks": { "os.release": { "evidence": [ { "path": "/id", "op": "ne", "value": "" } ] } } }
EOC
cat >verifier.conf <<EOC
[verifier]
state_dir = $W/state
trust_domain = demo.example
[listen]
agents = 127.0.0.1:$AP
gateways = 127.0.0.1:$GP
trusted_gateways = 127.0.0.1/32
[tls]
cert = $W/state/tls.crt
key = $W/state/tls.key
[enroll]
ek_roots = $W/ek-roots
[policy]
dir = $W/policies
default = demo
EOC
"$pv" serve --config verifier.conf >verifier.log 2>&1 &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$GP/healthz" || die "the verifier did not start: $(tail -n 20 verifier.log)"
echo "agents: https://127.0.0.1:$AP   gateways: http://127.0.0.1:$GP"
"$pv" ca --config verifier.conf >verifier-ca.pem
"$pv" ca --device --config verifier.conf >device-ca.pem

# ---- enrol and report -------------------------------------------------------------------------
cat >agent.conf <<EOC
[agent]
state_dir = $W/agent
[server]
url = https://127.0.0.1:$AP
ca = $W/verifier-ca.pem
[tpm]
enabled = yes
tcti = $tcti
event_log = $event_log
EOC
step "posture-verifier token create (what an admin hands to the fleet tool)"
token=$("$pv" token create --config verifier.conf --ttl 10m --label demo) || die "token create failed"
echo "$token"
step "posturectl enroll --server https://127.0.0.1:$AP --token … --ca verifier-ca.pem"
"$pc" enroll --config agent.conf --server "https://127.0.0.1:$AP" --token "$token" \
    --ca verifier-ca.pem || die "enrolment failed"
step "posturectl submit (checks + TPM quote bound to the report + event log → the verifier's verdict)"
"$pc" submit --config agent.conf
echo "(exit status $?: 0 = affirming under the default policy)"

# ---- nginx in front of an app ------------------------------------------------------------------
step "nginx (packaging/gateways/nginx.conf) in front of a tiny app, asking the verifier per request"
UP=$(free_port)
NP=$(free_port)
cat >app.py <<'EOC'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = ("hello from the app; the gateway says: %s (%s)\n" % (
            self.headers.get("X-Posture-Status"), self.headers.get("X-Posture-Policy"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOC
"$py" app.py "$UP" &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$UP/" || die "the demo app did not start"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout site.key \
    -out site.pem -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
mkdir -p nginx/cache nginx/tmp
chmod 0777 nginx/cache nginx/tmp
sed -e "s|server 127.0.0.1:8081;|server 127.0.0.1:$GP;|" \
    -e "s|server 127.0.0.1:8080; # CHANGE: the protected application|server 127.0.0.1:$UP;|" \
    -e "s|/var/cache/nginx/posture|$W/nginx/cache|" -e "s|listen 443 ssl;|listen 127.0.0.1:$NP ssl;|" \
    -e "s|/etc/nginx/tls/admin.pem|$W/site.pem|" -e "s|/etc/nginx/tls/admin.key|$W/site.key|" \
    -e "s|/etc/posture/device-ca.pem|$W/device-ca.pem|" \
    -e "s|/etc/nginx/snippets/posture-authz.conf|$top/packaging/gateways/posture-authz.conf|" \
    "$top/packaging/gateways/nginx.conf" >posture-site.conf
cat >nginx/nginx.conf <<EOC
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $W/nginx/tmp; proxy_temp_path $W/nginx/tmp;
    fastcgi_temp_path $W/nginx/tmp; uwsgi_temp_path $W/nginx/tmp; scgi_temp_path $W/nginx/tmp;
    include $W/posture-site.conf;
}
EOC
"$nginx" -e "$W/nginx/error.log" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
PIDS="$PIDS $!"
wait_http --cacert site.pem "https://127.0.0.1:$NP/" || die "nginx did not start: $(cat nginx/error.log)"

# This device's key is in the TPM, which curl cannot use (a browser would, through the OS key
# store). So the demo asks the verifier exactly what nginx asks it after a device's handshake:
# GET /v1/authz with the device certificate in X-Client-Cert. (integration/gateway.nginx/e2e
# runs real requests through this nginx configuration with a file-key device.)
ask() { # ask POLICY-OR-EMPTY: the verifier's answer to nginx for this device
    esc=$("$py" -c 'import sys,urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' agent/device.crt)
    q=""
    [ -n "$1" ] && q="?policy=$1"
    curl -s -D headers -o answer -w '%{http_code}' -H "X-Client-Cert: $esc" "http://127.0.0.1:$GP/v1/authz$q"
}
step "GET https://127.0.0.1:$NP/ as an unknown client (no device certificate)"
curl -s -o /dev/null -w 'HTTP %{http_code}\n' --cacert site.pem "https://127.0.0.1:$NP/"
step "The gateway's question for this device under the site's policy (demo)"
code=$(ask "")
echo "HTTP $code"
grep -i '^x-posture-\(status\|device-id\|policy\|expires\)' headers || :
[ "$code" != 200 ] && cat answer && echo
step "The gateway's question for this device under payments-admin (/payments/)"
code=$(ask payments-admin)
echo "HTTP $code"
if [ "$code" = 403 ]; then
    "$py" -c 'import json,sys; a=json.load(open(sys.argv[1])); print("denied: " + ", ".join(a.get("failed_checks", []))); print("what to do: " + a.get("remediation", "-"))' answer
else
    cat answer
fi
echo
echo "demo.sh: done. The verifier, nginx and the app ran in $W (DEMO_KEEP=1 keeps it)."
echo "See docs/verifier-api.md for the API, docs/policy.md for policies, packaging/gateways/ for"
echo "nginx, Caddy, Envoy, Traefik and HAProxy."
exit 0
