# goto a chain that falls off its end: the base chain's policy (drop) decides (pass).
nft -f - <<'NFT'
table inet filter {
    chain services {
        tcp dport 22 accept
        udp dport 53 accept
    }
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        goto services
        accept
    }
}
NFT
