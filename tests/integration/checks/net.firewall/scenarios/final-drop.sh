# Policy accept, but the chain ends in an unconditional drop (counter + log before it) (pass).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        ct state { established, related } accept
        iif "lo" accept
        tcp dport { 22, 443 } accept
        log prefix "input drop: " counter drop
    }
}
NFT
