# Policy drop, but all UDP is accepted (ip protocol / ip6 nexthdr udp): open for UDP (fail).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        tcp dport 22 accept
        ip protocol udp accept
        ip6 nexthdr udp accept
    }
}
NFT
