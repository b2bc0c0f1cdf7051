# firewalld with the trusted zone as default: the zone accepts everything (fail).
nft -f - <<'NFT'
table inet firewalld {
    chain filter_INPUT {
        type filter hook input priority filter + 10; policy accept;
        ct state { established, related } accept
        iifname "lo" accept
        jump filter_INPUT_ZONES
        reject with icmpx admin-prohibited
    }
    chain filter_INPUT_ZONES {
        goto filter_IN_trusted
    }
    chain filter_IN_trusted {
        jump filter_IN_trusted_allow
        accept
    }
    chain filter_IN_trusted_allow { }
}
NFT
