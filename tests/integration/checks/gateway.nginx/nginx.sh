#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The whole loop through real nginx (nginx-light) with the shipped packaging/gateways/nginx.conf
# and posture-authz.conf (paths and ports rewritten, nothing else): nginx.sh POSTURE_VERIFIER
# POSTURECTL SRCDIR. The set-up and the cases are tests/lib/gateway.sh's (every forward-auth
# gateway passes the same ones: headers, token, policy per route, no policy chosen by the
# client, 401 without a certificate, fail closed); nginx's own: `nginx -t` accepts the files,
# the 403 names what failed when asked directly as nginx asks, and an allow answer cached
# less than 30 s ago still serves while the verifier is down (what the cache is for, and why
# its lifetime is capped).
# nginx.sh ... tpm DEVICE_GET: the device enrols with its key in swtpm (hardware tier: EK chain,
# credential activation) and reaches nginx with mutual TLS on that TPM-resident key through the
# agent's own HTTP client (tests/lib/device_get; curl cannot use a TPM key): the upstream
# answers with the headers, the token carries the hardware claim, and /payments/ (Secure
# Boot unproven: swtpm has no event log) is 403.
set -u
PV=$1
CTL=$2
SRCDIR=$3
CASE=${4:-e2e}
DEVICE_GET=${5:-}
name=gateway.nginx/$CASE
nginx=$(command -v nginx || echo /usr/sbin/nginx)
. "$SRCDIR/tests/lib/gateway.sh"
gw_begin "$nginx"
if [ "$CASE" = tpm ]; then
    [ -x "$DEVICE_GET" ] || { echo "$name: SKIP: device_get is not built (no TPM support)"; exit 77; }
    SWTPM_NO_STARTUP=
    . "$SRCDIR/tests/lib/swtpm.sh"
    swtpm_start || exit $?
    trap 'swtpm_stop; cleanup' EXIT INT TERM
    mkdir -p ek-roots
    cp "$SWTPM_CA_ROOT" ek-roots/root.pem
    cp "$SWTPM_CA_ISSUER" ek-roots/issuer.pem
    EK_ROOTS=$W/ek-roots
fi
gw_setup || exit 1

NP=$(vt_free_port)
mkdir -p nginx/cache nginx/tmp
# nginx started as root runs its workers as nobody: they must reach the cache and temp dirs.
chmod 0711 "$W"
chmod 0777 nginx/cache nginx/tmp
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
"$nginx" -t -e "$W/nginx/error.log" -p "$W/nginx" -c "$W/nginx/nginx.conf" >nginx-t.out 2>&1 &&
    pass "nginx -t accepts the shipped configuration" ||
    { fail "nginx -t on the shipped configuration: $(cat nginx-t.out)"; exit 1; }
"$nginx" -e "$W/nginx/error.log" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
PIDS="$PIDS $!"
S="https://admin.shop.example:$NP"
C="--cacert $W/site.pem --resolve admin.shop.example:$NP:127.0.0.1"
vt_wait_http "$S/" $C || { fail "nginx did not start: $(cat nginx/error.log)"; exit 1; }

if [ "$CASE" = tpm ]; then
    vt_enrol tdev "$SWTPM_TCTI" && pass "posturectl enroll with the key in swtpm: $(head -n 1 tdev.out)" ||
        { fail "posturectl enroll (TPM): $(cat tdev.out tdev.err)"; exit 1; }
    # warning, not affirming: swtpm has no event log, so Secure Boot is unproven (a warning
    # finding the test policy allows); exit 1 says so
    "$CTL" submit --config tdev.conf --only os.release >tsubmit.out 2>tsubmit.err
    grep -q "access allowed" tsubmit.out ||
        { fail "posturectl submit (TPM): $(cat tsubmit.out tsubmit.err)"; exit 1; }
    head -c 200 tdev/device.key | grep -q "BEGIN TSS2 PRIVATE KEY" ||
        fail "the device key is not TPM-resident: $(head -n 1 tdev/device.key)"
    get() { "$DEVICE_GET" "https://127.0.0.1:$NP" "$1" site.pem tdev/device.crt tdev/device.key "$SWTPM_TCTI" 2>get.err; }
    if get / >get.out && [ "$(head -n 1 get.out)" = 200 ]; then
        tail -n +2 get.out >body
        if jq -e '."x-posture-status" | test("^(affirming|warning)$")' body >/dev/null &&
            jq -r '."x-posture-token"' body | python3 -c '
import base64, json, sys
p = sys.stdin.read().strip().split(".")[1]
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
tv = c["submods"]["device"]["ear.trustworthiness-vector"]
sys.exit(0 if tv["hardware"] == 2 else 1)'; then
            pass "TPM-key mTLS through nginx: 200 from the upstream ($(jq -r '."x-posture-status"' body)), EAR hardware claim 2"
        else
            fail "TPM device through nginx: $(cat body)"
        fi
    else
        fail "TPM device through nginx: $(cat get.out get.err 2>/dev/null) $(tail -n 3 nginx/error.log)"
    fi
    if get /payments/x >get.out && [ "$(head -n 1 get.out)" = 403 ]; then
        pass "TPM device, /payments/: 403 ($(tail -n +2 get.out | jq -c .failed_checks))"
    else
        fail "TPM device, /payments/: $(cat get.out get.err 2>/dev/null)"
    fi
    exit $status
fi

# The verifier's own answer to nginx's question names why /payments/ is denied.
curl -s -o direct.json -w '%{http_code}' -G --data-urlencode "policy=payments-admin" \
    -H "X-Client-Cert: $(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$CRT")" \
    "http://127.0.0.1:$GP/v1/authz" >direct.code
[ "$(cat direct.code)" = 403 ] && jq -e '.failed_checks | length > 0' direct.json >/dev/null &&
    pass "asked as nginx asks, the 403 names what failed: $(jq -c .failed_checks direct.json)" ||
    fail "direct authz: $(cat direct.code) $(cat direct.json)"

gw_cases

# The device of case 1 was allowed less than 30 s ago: nginx's cache still serves it.
c=$(curl -sS -o body -w '%{http_code}' $C --cert "$CRT" --key "$KEY" "$S/" 2>>curl.err)
[ "$c" = 200 ] && pass "verifier down: an allow answer cached less than 30 s ago still serves" ||
    fail "verifier down, cached device: HTTP $c"
[ $status = 0 ] || echo "$name: nginx's log: $(tail -n 5 nginx/error.log)" >&2
exit $status
