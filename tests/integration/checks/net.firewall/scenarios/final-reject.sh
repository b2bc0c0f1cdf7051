# Policy accept, the chain ends in reject (pass).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
        iifname "lo" accept
        reject with icmpx type admin-prohibited
    }
}
NFT
