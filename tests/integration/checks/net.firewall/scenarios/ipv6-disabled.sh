# IPv4 protected, IPv6 disabled in the namespace (pass).
nft -f - <<'NFT'
table ip filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iifname "lo" accept
    }
}
NFT
sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
