# An inet input chain with policy drop and the usual exceptions (pass).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iifname "lo" accept
        meta l4proto ipv6-icmp accept
        ip protocol icmp icmp type echo-request limit rate 5/second accept
        tcp dport 22 ct state new accept
        udp dport 546 ip6 daddr fe80::/64 accept
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
    }
    chain output {
        type filter hook output priority filter; policy accept;
    }
}
NFT
