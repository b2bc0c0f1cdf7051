# Tailscale's iptables-nft chains (ts-input jumped first from INPUT, accepting tailscale0 and its
# UDP port; ts-forward) on top of an nftables inet input chain with policy drop (pass).
nft -f - <<'NFT'
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iifname "lo" accept
    }
}
NFT
. "$SCENARIO_DIR/tailscale-chains.inc"
