#!/bin/sh
# Regenerate tests/fixtures/roots/net.firewall/ from the scenarios (run as root, by hand):
# each scenario is loaded into a fresh network namespace and the kernel's answer is saved as
#   <scenario>.json              nft -j -s list ruleset (what libnftables prints for the check)
#   <scenario>.iptables-save     iptables-legacy-save, when the namespace has legacy tables
#   <scenario>.ip6tables-save    ip6tables-legacy-save, likewise
#   <scenario>.iptables-nft-save   iptables-nft-save, when the nft JSON has xt statements in an ip
#                                 table (the check reads those tables from it), likewise ip6
#   <scenario>.ip6tables-nft-save
#   <scenario>.ipv6-disabled     present when net.ipv6.conf.all.disable_ipv6 = 1
# The unit tests (tests/unit/checks/test_net_firewall.c) evaluate these captures.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../../fixtures/roots/net.firewall}
mkdir -p "$out"
export SCENARIO_DIR="$here/scenarios"
for f in "$SCENARIO_DIR"/*.sh; do
    name=$(basename "$f" .sh)
    rm -f "$out/$name".*
    unshare -n sh -e -c '
        ip link set lo up
        . "$1"
        nft -j -s list ruleset >"$2.json"
        if grep -q . /proc/net/ip_tables_names 2>/dev/null; then iptables-legacy-save >"$2.iptables-save"; fi
        if grep -q . /proc/net/ip6_tables_names 2>/dev/null; then ip6tables-legacy-save >"$2.ip6tables-save"; fi
        xt() { jq -e --arg f "$1" "[.nftables[] | select(.rule.family == \$f) | .rule.expr[] | select(.xt)] | length > 0" "$2.json" >/dev/null; }
        if xt ip "$2"; then iptables-nft-save >"$2.iptables-nft-save"; fi
        if xt ip6 "$2"; then ip6tables-nft-save >"$2.ip6tables-nft-save"; fi
        if [ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6)" = 1 ]; then : >"$2.ipv6-disabled"; fi
    ' sh "$f" "$out/$name"
    echo "captured $name"
done
