# "ct state new accept" accepts every new connection: a catch-all for new traffic (fail).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        ct state new accept
    }
}
NFT
