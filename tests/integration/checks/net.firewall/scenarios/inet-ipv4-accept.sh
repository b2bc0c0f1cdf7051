# An inet chain that accepts all IPv4 (meta nfproto ipv4) but drops IPv6 (fail for IPv4 only).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        meta nfproto ipv4 accept
    }
}
NFT
