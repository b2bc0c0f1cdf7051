# A catch-all accept before the final drop makes the drop dead (fail).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state established,related accept
        iifname "lo" accept
        counter accept
        tcp dport 22 accept
        drop
    }
}
NFT
