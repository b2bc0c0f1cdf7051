# Two input base chains: an accept-all one first, a drop-policy one later. An accept ends only
# its own chain, so the later drop still applies (pass).
nft -f - <<'NFT'
table inet early {
    chain input {
        type filter hook input priority -10; policy accept;
        accept
    }
}
table inet late {
    chain input {
        type filter hook input priority 10; policy drop;
        ct state established,related accept
    }
}
NFT
