# IPv4 protected (ip family), IPv6 open: no ip6/inet input chain (fail).
nft -f - <<'NFT'
table ip filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iifname "lo" accept
    }
}
NFT
