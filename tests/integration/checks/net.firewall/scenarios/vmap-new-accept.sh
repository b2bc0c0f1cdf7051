# ct state vmap with "new : accept": every new connection is accepted (fail).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state vmap { established : accept, related : accept, new : accept, invalid : drop }
    }
}
NFT
