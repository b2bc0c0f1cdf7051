# ufw enabled with "default allow incoming": the same chains with INPUT policy ACCEPT. The final
# DROP in ufw-not-local is only for traffic to non-local addresses (fail).
UFW_POLICY=ACCEPT UFW_RESTORE=iptables-nft-restore . "$SCENARIO_DIR/ufw-chains.inc"
ip6tables-nft -P INPUT DROP
