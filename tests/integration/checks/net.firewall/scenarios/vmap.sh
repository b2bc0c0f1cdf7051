# The nftables wiki's workstation ruleset: ct state vmap, an interface vmap, policy drop (pass).
nft -f - <<'NFT'
table inet filter {
    map trusted_ifaces {
        type ifname : verdict
        elements = { "wg0" : accept, "docker0" : jump allow_web }
    }
    chain allow_web {
        tcp dport { 80, 443 } accept
    }
    chain input {
        type filter hook input priority 0; policy drop;
        ct state vmap { established : accept, related : accept, invalid : drop }
        iifname vmap @trusted_ifaces
        iif lo accept
        ip6 nexthdr ipv6-icmp accept
    }
}
NFT
