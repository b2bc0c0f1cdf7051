# Policy drop, but every new TCP connection is accepted: meta l4proto tcp is no exception (fail).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        meta l4proto tcp ct state new accept
        udp dport 53 accept
    }
}
NFT
