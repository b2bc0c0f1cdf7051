# iptables-legacy INPUT ACCEPT (an empty filter table) beside an nftables inet drop chain: both
# hook input, the nftables drop decides (pass).
iptables-legacy -P INPUT ACCEPT
ip6tables-legacy -P INPUT ACCEPT
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
    }
}
NFT
