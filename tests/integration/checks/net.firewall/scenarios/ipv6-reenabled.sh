# net.ipv6.conf.all.disable_ipv6 = 1, but IPv6 re-enabled on one link afterwards: IPv6 is on
# and nothing filters it (fail for IPv6). The link is v0 under netns.sh, else a veth made here.
nft -f - <<'NFT'
table ip filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
    }
}
NFT
sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
dev=v0
if ! ip link show v0 >/dev/null 2>&1; then
    ip link add v9 type veth peer name v9p
    dev=v9
fi
sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=0"
ip -6 addr add fd00:200::1/64 dev "$dev" nodad
