#!/bin/sh
# The gateway decision under load (DESIGN.md §10: /v1/authz ≥ 20,000 decisions/s per core, p99
# ≤ 2 ms on loopback): posture-verifier serve (one HTTP thread, pinned to one core), a device
# enrolled and reporting (software tier, os.release only), then wrk (on the other core) asking
# GET /v1/authz with the device's certificate in X-Client-Cert the way nginx forwards it.
# Prints decisions per second and the latency percentiles wrk measures; asserts nothing.
# A second run asks with a certificate no device has (401, the cheapest path) for comparison.
# usage: authz.sh BUILD_DIR [SECONDS] [CONNECTIONS]
set -u
build=$1
secs=${2:-5}
conns=${3:-32}
pv=$build/verifier/posture-verifier
pc=$build/agent/cli/posturectl
name="bench authz"
command -v wrk >/dev/null 2>&1 || {
    echo "$name: wrk is not installed (packaging/install-deps.sh installs it); skipped"
    exit 0
}
W=$(mktemp -d "${TMPDIR:-/tmp}/posture-bench-authz.XXXXXX")
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT
cd "$W" || exit 1
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
AP=$(free_port)
GP=$(free_port)
mkdir -p state policies agent
cat >policies/bench.json <<'EOC'
{ "id": "bench", "version": "1",
  "checks": { "os.release": { "evidence": [ { "path": "/id", "op": "ne", "value": "" } ] } } }
EOC
cat >verifier.conf <<EOC
[verifier]
state_dir = $W/state
trust_domain = bench.example
[listen]
agents = 127.0.0.1:$AP
gateways = 127.0.0.1:$GP
trusted_gateways = 127.0.0.1/32
threads = 1
max_connections = 1024
[tls]
cert = $W/state/tls.crt
key = $W/state/tls.key
[policy]
dir = $W/policies
default = bench
EOC
ncpu=$(nproc)
vcpu=0
wcpu=$((ncpu > 1 ? 1 : 0))
taskset -c "$vcpu" "$pv" serve --config verifier.conf >verifier.log 2>&1 &
PIDS="$PIDS $!"
i=0
until curl -s -o /dev/null "http://127.0.0.1:$GP/healthz"; do
    i=$((i + 1))
    [ $i -gt 100 ] && { echo "$name: the verifier did not start: $(tail -n 5 verifier.log)"; exit 1; }
    sleep 0.1
done
"$pv" ca --config verifier.conf >verifier-ca.pem
printf '[agent]\nstate_dir = %s/agent\n[server]\nurl = https://127.0.0.1:%s\nca = %s/verifier-ca.pem\n[tpm]\nenabled = no\n' \
    "$W" "$AP" "$W" >agent.conf
tok=$("$pv" token create --config verifier.conf)
"$pc" enroll --config agent.conf --server "https://127.0.0.1:$AP" --token "$tok" --ca verifier-ca.pem >/dev/null 2>&1 &&
    "$pc" submit --config agent.conf --only os.release >/dev/null 2>&1 || {
    echo "$name: enrolment or submission failed; skipped"
    exit 1
}
esc=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' agent/device.crt)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Client-Cert: $esc" "http://127.0.0.1:$GP/v1/authz")
[ "$code" = 200 ] || { echo "$name: the device's decision is $code, not 200; skipped"; exit 1; }
cat >hdr.lua <<EOC
wrk.headers["X-Client-Cert"] = "$esc"
EOC
run() { # run LABEL LUA
    taskset -c "$wcpu" wrk -t 1 -c "$conns" -d "${secs}s" --latency -s "$2" \
        "http://127.0.0.1:$GP/v1/authz" >wrk.out 2>&1
    rps=$(awk '/^Requests\/sec/ {print $2}' wrk.out)
    p50=$(awk '$1 == "50%" {print $2}' wrk.out)
    p99=$(awk '$1 == "99%" {print $2}' wrk.out)
    non2xx=$(awk '/Non-2xx/ {print $NF}' wrk.out)
    echo "$name: $1: $rps decisions/s on one verifier thread (core $vcpu), p50 $p50, p99 $p99, ${conns} connections, ${secs} s${non2xx:+, non-2xx $non2xx} (target >= 20000/s, p99 <= 2 ms)"
}
run "enrolled device, 200 with every X-Posture-* header" hdr.lua
fp=$(openssl x509 -in agent/device.crt -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
printf 'wrk.headers["X-Client-Cert-Fp"] = "%s"\n' "$fp" >fp.lua
run "enrolled device by certificate fingerprint (Caddy, HAProxy), 200" fp.lua
printf 'wrk.headers["X-Client-Cert-Fp"] = "%s"\n' "$(printf '%064d' 0)" >unknown.lua
run "unknown certificate fingerprint, 401" unknown.lua
# For scale: the same wrk against nginx serving a fixed 200 on the same core.
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    NP=$(free_port)
    mkdir -p ng
    cat >ng/nginx.conf <<EOC
daemon off; worker_processes 1; pid $W/ng/pid; error_log $W/ng/err;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$NP; location / { return 200 "ok"; } } }
EOC
    taskset -c "$vcpu" "$(command -v nginx || echo /usr/sbin/nginx)" -p "$W/ng" -c "$W/ng/nginx.conf" &
    PIDS="$PIDS $!"
    sleep 0.5
    taskset -c "$wcpu" wrk -t 1 -c "$conns" -d "${secs}s" --latency "http://127.0.0.1:$NP/" >wrk.out 2>&1
    echo "$name: peer: nginx 'return 200' on the same core: $(awk '/^Requests\/sec/ {print $2}' wrk.out) requests/s, p99 $(awk '$1 == "99%" {print $2}' wrk.out)"
fi
exit 0
