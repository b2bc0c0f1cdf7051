#!/bin/sh
# net.firewall end to end, in private network namespaces (needs root):
#   for each scenario in scenarios/*.sh a fresh namespace gets a veth link to a peer namespace,
#   the scenario's real ruleset (nft, iptables-nft, iptables-legacy, sysctl), a TCP listener on
#   an unfiltered port, and then:
#     - posturectl check --json --only net.firewall, read with jq;
#     - independent oracles: a TCP connection and a UDP datagram from the peer over IPv4 and
#       IPv6 (is new inbound traffic accepted?), jq over `nft -j list ruleset` and grep over
#       iptables-legacy-save (rule and input chain counts);
#   plus: non-root (setpriv) is an error naming CAP_NET_ADMIN, --root is an error, the ruleset
#   digest ignores handles and changes with the rules, and a generated 10,000-rule ruleset (its
#   duration_ms is printed; no timed assertion).
# Usage: netns.sh POSTURECTL SCENARIO_DIR. Exit 77 (skip) without root or tools, unless CI is set.
set -u
posturectl=$1
scenario_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
test_name=net.firewall/netns

skip() {
    echo "$test_name: SKIP: $*"
    if [ -n "${CI:-}" ]; then
        echo "$test_name: CI is set: a skip is a failure" >&2
        exit 1
    fi
    exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nft)"
for tool in unshare nsenter setpriv nft jq python3 ip sysctl iptables-nft-restore ip6tables-nft \
    iptables-legacy ip6tables-legacy iptables-legacy-restore iptables-legacy-save \
    ip6tables-legacy-save; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
unshare -n true 2>/dev/null || skip "cannot create a network namespace"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/net-firewall-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
chmod 755 "$tmp" # the non-root run reads the empty configuration file
: >"$tmp/empty.conf"
failures=0
checks=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}

# Export for the namespace scripts.
SCENARIO_DIR=$scenario_dir
POSTURECTL=$posturectl
PROBE=$here/probe.py
EMPTY_CONF=$tmp/empty.conf
PORT=47123
export SCENARIO_DIR POSTURECTL PROBE EMPTY_CONF PORT

# in_netns SCENARIO OUTDIR [AS_USER]: run the scenario in a fresh namespace and collect
#   OUTDIR/check.json, check.status, nft.json, legacy4.save, legacy6.save, tcp4, tcp6 (the TCP
#   probes' answers) and udp4, udp6 (present when a datagram arrived).
in_netns() {
    mkdir -p "$2"
    unshare -n sh -c '
        name=$1 out=$2 user=$3
        # scenarios run side by side: each its own iptables-legacy lock
        XTABLES_LOCKFILE=$out/xtables.lock
        export XTABLES_LOCKFILE
        ip link set lo up
        ip link add v0 type veth peer name v1 || exit 1
        unshare -n sleep 120 &
        peer=$!
        i=0
        while [ "$(readlink /proc/$peer/ns/net)" = "$(readlink /proc/self/ns/net)" ] && [ $i -lt 100 ]; do
            sleep 0.01; i=$((i + 1))
        done
        ip link set v1 netns "$peer"
        ip addr add 10.200.0.1/24 dev v0
        ip -6 addr add fd00:200::1/64 dev v0 nodad
        ip link set v0 up
        nsenter -t "$peer" -n sh -c "ip link set lo up; ip addr add 10.200.0.2/24 dev v1;
            ip -6 addr add fd00:200::2/64 dev v1 nodad; ip link set v1 up"
        # Static neighbours, so that the probes do not depend on ICMPv6 neighbour discovery
        # (which a ruleset may or may not let through).
        mac0=$(ip -o link show v0 | sed -n "s/.*link\/ether \([0-9a-f:]*\).*/\1/p")
        mac1=$(nsenter -t "$peer" -n ip -o link show v1 | sed -n "s/.*link\/ether \([0-9a-f:]*\).*/\1/p")
        ip -6 neigh replace fd00:200::2 lladdr "$mac1" dev v0 nud permanent
        nsenter -t "$peer" -n ip -6 neigh replace fd00:200::1 lladdr "$mac0" dev v1 nud permanent
        . "$SCENARIO_DIR/$name.sh" >"$out/setup.log" 2>&1 ||
            { echo "setup of $name failed:"; cat "$out/setup.log"; }
        python3 "$PROBE" listen "$PORT" "$out" &
        listener=$!
        i=0
        while [ ! -e "$out/ready" ] && [ $i -lt 300 ]; do sleep 0.01; i=$((i + 1)); done
        if [ -n "$user" ]; then
            setpriv --reuid="$user" --regid="$user" --clear-groups "$POSTURECTL" check --json \
                --only net.firewall --config "$EMPTY_CONF" >"$out/check.json" 2>"$out/check.err"
        else
            "$POSTURECTL" check --json --only net.firewall --config "$EMPTY_CONF" \
                >"$out/check.json" 2>"$out/check.err"
        fi
        echo $? >"$out/check.status"
        nft -j -s list ruleset >"$out/nft.json"
        : >"$out/legacy4.save"
        : >"$out/legacy6.save"
        grep -q . /proc/net/ip_tables_names 2>/dev/null && iptables-legacy-save >"$out/legacy4.save"
        grep -q . /proc/net/ip6_tables_names 2>/dev/null && ip6tables-legacy-save >"$out/legacy6.save"
        for af in 4 6; do
            addr=10.200.0.1
            [ $af = 6 ] && addr=fd00:200::1
            nsenter -t "$peer" -n python3 "$PROBE" tcp "$addr" "$PORT" >"$out/tcp$af"
            nsenter -t "$peer" -n python3 "$PROBE" udp "$addr" "$PORT"
        done
        sleep 0.3
        kill "$listener" "$peer" 2>/dev/null
        wait 2>/dev/null
        exit 0
    ' sh "$1" "$2" "${3:-}"
}

# jq_is FILE FILTER EXPECTED(JSON) WHAT
jq_is() {
    checks=$((checks + 1))
    if ! jq -e --argjson want "$3" "($2) == \$want" "$1" >/dev/null 2>&1; then
        fail "$4: jq '$2' expected $3, got $(jq -c "$2" "$1" 2>&1 | head -c 300)"
        return 1
    fi
}

# expect SCENARIO STATUS DENY4 DENY6 REASON-SUBSTRING
expect() {
    name=$1 status=$2 deny4=$3 deny6=$4 reason=$5
    out=$tmp/$name
    c=$out/check.json
    if ! jq -e . "$c" >/dev/null 2>&1; then
        fail "$name: posturectl printed no JSON (exit $(cat "$out/check.status")): $(head -c 400 "$out/check.err")"
        return
    fi
    r='.checks[0]'
    jq_is "$c" "$r.status" "\"$status\"" "$name: status" || jq -r "$r.reason" "$c" >&2
    jq_is "$c" "$r.evidence.ipv4_inbound_default_deny" "$deny4" "$name: IPv4 verdict"
    jq_is "$c" "$r.evidence.ipv6_inbound_default_deny" "$deny6" "$name: IPv6 verdict"
    checks=$((checks + 1))
    jq -r "$r.reason" "$c" | grep -qF -- "$reason" ||
        fail "$name: reason '$(jq -r "$r.reason" "$c")' lacks '$reason'"
    case $status in pass) want=0 ;; fail) want=1 ;; *) want=3 ;; esac
    checks=$((checks + 1))
    [ "$(cat "$out/check.status")" = "$want" ] ||
        fail "$name: exit status $(cat "$out/check.status"), expected $want"
    if [ "$status" = fail ]; then
        jq_is "$c" "$r.remediation | type" '"string"' "$name: remediation"
    fi

    # Oracle 1: packets. A listener waits on TCP and UDP port $PORT; the peer connects and sends
    # over IPv4 and IPv6. The family is open when either gets through.
    for af in 4 6; do
        eval "deny=\$deny$af"
        got=denied
        [ "$(cat "$out/tcp$af")" = accepted ] && got="accepted (TCP)"
        [ -e "$out/udp$af" ] && got="accepted (UDP)"
        want=accepted
        [ "$deny" = true ] && want=denied
        checks=$((checks + 1))
        case $got in
        "$want"*) ;;
        *) fail "$name: IPv$af: real traffic from the peer was $got, the check says deny=$deny" ;;
        esac
    done

    # Oracle 2: the rule count from jq over nft's JSON and grep over iptables-legacy-save.
    n_nft=$(jq '[.nftables[] | select(.rule)] | length' "$out/nft.json")
    n_legacy=$(cat "$out/legacy4.save" "$out/legacy6.save" | grep -c '^-A ')
    jq_is "$c" "$r.evidence.rule_count" "$((n_nft + n_legacy))" "$name: rule_count"
    # Input base chains of type filter (nft) plus the legacy filter INPUT chains.
    n_chains=$(jq '[.nftables[] | select(.chain) | .chain
        | select(.hook == "input" and .type == "filter" and (.family == "inet" or .family == "ip" or .family == "ip6"))] | length' "$out/nft.json")
    for f in "$out/legacy4.save" "$out/legacy6.save"; do
        n_chains=$((n_chains + $(awk '/^\*/ { t = $0 } t == "*filter" && /^:INPUT / { n++ } END { print n + 0 }' "$f")))
    done
    jq_is "$c" "$r.evidence.input_chains | length" "$n_chains" "$name: input_chains"
    jq_is "$c" "$r.evidence.ruleset_sha256 | test(\"^[0-9a-f]{64}\$\")" true "$name: digest"
}

# Every scenario first, four at a time (each in its own namespaces; mostly waiting on the
# probes' timeouts), then the expectations.
n=0
for f in "$scenario_dir"/*.sh; do
    in_netns "$(basename "$f" .sh)" "$tmp/$(basename "$f" .sh)" &
    n=$((n + 1))
    [ $((n % 4)) = 0 ] && wait
done
wait
for f in "$scenario_dir"/*.sh; do
    name=$(basename "$f" .sh)
    # name status ipv4-denied ipv6-denied reason
    case $name in
    policy-drop) expect "$name" pass true true "chain inet filter input has policy drop" ;;
    final-drop) expect "$name" pass true true "ends in an unconditional drop or reject" ;;
    final-reject) expect "$name" pass true true "ends in an unconditional drop or reject" ;;
    catch-all-accept) expect "$name" fail false false "accepts all new traffic (rule handle" ;;
    new-accept) expect "$name" fail false false "accepts all new traffic" ;;
    ipv4-only) expect "$name" fail true false "IPv6 inbound traffic is accepted: no input chain for ip6/inet" ;;
    ipv6-disabled) expect "$name" pass true true "IPv6 is disabled" ;;
    ipv6-reenabled) expect "$name" fail true false "IPv6 inbound traffic is accepted: no input chain for ip6/inet" ;;
    inet-ipv4-accept) expect "$name" fail false true "IPv4 inbound traffic is accepted" ;;
    empty) expect "$name" fail false false "there is no input chain" ;;
    vmap) expect "$name" pass true true "policy drop" ;;
    vmap-new-accept) expect "$name" fail false false "accepts all new traffic" ;;
    two-chains) expect "$name" pass true true "chain inet late input has policy drop" ;;
    jump-accept) expect "$name" fail false false "in chain inet filter allow_all" ;;
    goto-return) expect "$name" pass true true "policy drop" ;;
    ingress-only) expect "$name" fail false false "there is no input chain" ;;
    firewalld-like) expect "$name" pass true true "inet firewalld filter_INPUT ends in an unconditional" ;;
    firewalld-trusted) expect "$name" fail false false "filter_IN_trusted" ;;
    docker-like) expect "$name" pass true true "chain inet filter input has policy drop" ;;
    tailscale-like) expect "$name" pass true true "chain inet filter input has policy drop" ;;
    tailscale-only) expect "$name" fail false false "has policy accept and no final drop or reject rule" ;;
    ufw-deny) expect "$name" pass true true "policy drop" ;;
    ufw-allow) expect "$name" fail false true "accepts all new TCP traffic in chain ip filter ufw-track-input (iptables-nft-save line" ;;
    legacy-drop) expect "$name" pass true true "iptables-legacy filter INPUT has policy drop" ;;
    legacy-ufw-allow) expect "$name" fail false true "accepts all new TCP traffic in chain iptables-legacy filter ufw-track-input (line" ;;
    legacy-ufw-deny) expect "$name" pass true true "policy drop" ;;
    legacy-and-nft) expect "$name" pass true true "chain inet filter input has policy drop" ;;
    tcp-new-accept) expect "$name" fail false false "accepts all new TCP traffic (rule handle" ;;
    udp-accept) expect "$name" fail false false "accepts all new UDP traffic (rule handle" ;;
    iptables-nft-tcp-accept) expect "$name" fail false true "chain ip filter INPUT accepts all new TCP traffic (iptables-nft-save line" ;;
    *) fail "scenario $name has no expectation in $0" ;;
    esac
done

# Evidence details that the scenarios pin down.
jq_is "$tmp/ufw-deny/check.json" '.checks[0].evidence.managers.ufw.rules_loaded' true "ufw-deny: ufw rules loaded"
jq_is "$tmp/policy-drop/check.json" '.checks[0].evidence.managers.ufw.rules_loaded' false "policy-drop: no ufw rules"
jq_is "$tmp/firewalld-like/check.json" '.checks[0].evidence.managers.firewalld.rules_loaded' true "firewalld-like: table"
jq_is "$tmp/legacy-drop/check.json" '.checks[0].evidence.backend' '"iptables-legacy"' "legacy-drop: backend"
jq_is "$tmp/legacy-and-nft/check.json" '.checks[0].evidence.backend' '"nftables+iptables-legacy"' "legacy-and-nft: backend"
jq_is "$tmp/empty/check.json" '.checks[0].evidence.backend' '"none"' "empty: backend"
jq_is "$tmp/policy-drop/check.json" '.checks[0].evidence.backend' '"nftables"' "policy-drop: backend"
jq_is "$tmp/ipv6-disabled/check.json" '.checks[0].evidence.ipv6_disabled' true "ipv6-disabled: flag"
jq_is "$tmp/policy-drop/check.json" '.checks[0].evidence.ipv6_disabled' false "policy-drop: IPv6 flag"

# Non-root in the namespace: an error naming CAP_NET_ADMIN, never pass or fail (exit 3).
in_netns policy-drop "$tmp/nonroot" 65534
jq_is "$tmp/nonroot/check.json" '.checks[0].status' '"error"' "non-root: status"
checks=$((checks + 1))
jq -r '.checks[0].reason' "$tmp/nonroot/check.json" | grep -qF "needs CAP_NET_ADMIN" ||
    fail "non-root: reason '$(jq -r '.checks[0].reason' "$tmp/nonroot/check.json")'"
jq_is "$tmp/nonroot/check.json" '.checks[0].remediation | test("CAP_NET_ADMIN")' true "non-root: remediation"
checks=$((checks + 1))
[ "$(cat "$tmp/nonroot/check.status")" = 3 ] || fail "non-root: exit status $(cat "$tmp/nonroot/check.status"), expected 3"

# --root DIR: no kernel to ask.
mkdir -p "$tmp/root/etc"
"$posturectl" check --json --only net.firewall --root "$tmp/root" --config "$tmp/empty.conf" >"$tmp/root.json"
jq_is "$tmp/root.json" '.checks[0].status' '"error"' "--root: status"
jq_is "$tmp/root.json" '.checks[0].reason | test("cannot be read for --root")' true "--root: reason"

# The digest: the same ruleset loaded with other handles gives the same digest; one more rule
# changes it.
cat >"$tmp/shift-handles.nft" <<'NFT'
table inet zzz {
    chain a { }
    chain b { }
    chain c { }
}
NFT
cat >"$tmp/drop-zzz.nft" <<'NFT'
delete table inet zzz
NFT
cat >"$tmp/one-more.nft" <<'NFT'
add rule inet filter input tcp dport 8080 accept
NFT
unshare -n sh -c 'nft -f "$1"; . "$SCENARIO_DIR/policy-drop.sh"; nft -f "$2";
    "$POSTURECTL" check --json --only net.firewall --config "$EMPTY_CONF" >"$3"' \
    sh "$tmp/shift-handles.nft" "$tmp/drop-zzz.nft" "$tmp/digest-shifted.json"
unshare -n sh -c '. "$SCENARIO_DIR/policy-drop.sh"; nft -f "$1";
    "$POSTURECTL" check --json --only net.firewall --config "$EMPTY_CONF" >"$2"' \
    sh "$tmp/one-more.nft" "$tmp/digest-more.json"
d0=$(jq -r '.checks[0].evidence.ruleset_sha256' "$tmp/policy-drop/check.json")
d1=$(jq -r '.checks[0].evidence.ruleset_sha256' "$tmp/digest-shifted.json")
d2=$(jq -r '.checks[0].evidence.ruleset_sha256' "$tmp/digest-more.json")
checks=$((checks + 2))
[ "$d0" = "$d1" ] || fail "digest: the same ruleset with other handles: $d0 vs $d1"
[ "$d0" != "$d2" ] || fail "digest: one more rule did not change $d0"
# 10,000 rules: 100 chains of 100 rules, each jumped to on its own port range, and a policy drop.
gen=$tmp/10k.nft
{
    echo "table inet filter {"
    c=0
    while [ $c -lt 100 ]; do
        echo "  chain svc$c {"
        awk -v c="$c" 'BEGIN { for (i = 0; i < 100; i++)
            printf "    ip saddr 10.%d.%d.0/24 tcp dport %d accept\n", c, i, 10000 + i }'
        echo "  }"
        c=$((c + 1))
    done
    echo "  chain input {"
    echo "    type filter hook input priority 0; policy drop;"
    echo "    ct state established,related accept"
    c=0
    while [ $c -lt 100 ]; do
        echo "    tcp dport $((20000 + c)) jump svc$c"
        c=$((c + 1))
    done
    echo "  }"
    echo "}"
} >"$gen"
unshare -n sh -c 'nft -f "$1" && "$POSTURECTL" check --json --only net.firewall --config "$EMPTY_CONF" >"$2";
    nft -j list ruleset | jq "[.nftables[] | select(.rule)] | length" >"$3"' \
    sh "$gen" "$tmp/10k.json" "$tmp/10k.count"
jq_is "$tmp/10k.json" '.checks[0].status' '"pass"' "10k rules: status"
jq_is "$tmp/10k.json" '.checks[0].evidence.rule_count' "$(cat "$tmp/10k.count")" "10k rules: rule_count"
echo "$test_name: 10,000-rule ruleset ($(cat "$tmp/10k.count") rules): duration_ms $(jq '.checks[0].duration_ms' "$tmp/10k.json")"

if [ "$failures" -gt 0 ]; then
    echo "$test_name: $failures of $checks checks FAILED" >&2
    exit 1
fi
echo "$test_name: all $checks checks passed"
