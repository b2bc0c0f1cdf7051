#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The whole loop through real HAProxy (Debian 12's 2.6, built with Lua) with the shipped
# packaging/gateways/haproxy.cfg and posture-auth.lua (names, paths and ports rewritten,
# nothing else): haproxy.sh POSTURE_VERIFIER POSTURECTL SRCDIR. The set-up and the cases are
# tests/lib/gateway.sh's; HAProxy's own: `haproxy -c` accepts the file, and the Lua action
# answers 503 itself when the verifier is gone.
set -u
PV=$1
CTL=$2
SRCDIR=$3
name=gateway.haproxy
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
. "$SRCDIR/tests/lib/gateway.sh"
gw_begin "$haproxy"
gw_setup || exit 1

HP=$(vt_free_port)
cat site.pem site.key >site-full.pem
sed -e "s|127.0.0.1:8081|127.0.0.1:$GP|g" -e "s|127.0.0.1:8080|127.0.0.1:$UP|" \
    -e "s|bind :443 |bind 127.0.0.1:$HP |" \
    -e "s|/etc/haproxy/tls/admin.pem|$W/site-full.pem|" \
    -e "s|/etc/posture/device-ca.pem|$W/device-ca.pem|" \
    -e "s|/usr/share/doc/posture-verifier/examples/posture-auth.lua|$SRCDIR/packaging/gateways/posture-auth.lua|" \
    "$SRCDIR/packaging/gateways/haproxy.cfg" >haproxy.cfg
"$haproxy" -c -f haproxy.cfg >check.out 2>&1 &&
    pass "haproxy -c accepts the shipped haproxy.cfg" ||
    { fail "haproxy -c: $(tail -n 5 check.out)"; exit 1; }
"$haproxy" -db -f haproxy.cfg >haproxy.log 2>&1 &
PIDS="$PIDS $!"
S="https://admin.shop.example:$HP"
C="--cacert $W/site.pem --resolve admin.shop.example:$HP:127.0.0.1"
vt_wait_http "$S/" $C || { fail "haproxy did not start: $(tail -n 5 haproxy.log)"; exit 1; }

gw_cases
[ $status = 0 ] || echo "$name: haproxy's log: $(tail -n 5 haproxy.log)" >&2
exit $status
