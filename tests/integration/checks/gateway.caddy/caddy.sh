#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The whole loop through real Caddy (Debian 12's 2.6.2) with the shipped
# packaging/gateways/Caddyfile (names, paths and ports rewritten, nothing else):
# caddy.sh POSTURE_VERIFIER POSTURECTL SRCDIR. The set-up and the cases are
# tests/lib/gateway.sh's (every forward-auth gateway passes the same ones); Caddy's own
# hazard is in case 4: it appends the client's query string to a forward_auth uri that has
# none, so the shipped file names the policy in every uri.
set -u
PV=$1
CTL=$2
SRCDIR=$3
name=gateway.caddy
caddy=$(command -v caddy || echo /usr/bin/caddy)
. "$SRCDIR/tests/lib/gateway.sh"
gw_begin "$caddy"
gw_setup || exit 1

CP=$(vt_free_port)
HP=$(vt_free_port)
# The global options keep Caddy off the machine's :80, :443 and :2019 and out of root's home.
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
C="--cacert $W/site.pem --resolve admin.shop.example:$CP:127.0.0.1"
vt_wait_http "$S/" $C || { fail "caddy did not start: $(tail -n 5 caddy.log)"; exit 1; }

gw_cases
[ $status = 0 ] || echo "$name: caddy's log: $(tail -n 5 caddy.log)" >&2
exit $status
