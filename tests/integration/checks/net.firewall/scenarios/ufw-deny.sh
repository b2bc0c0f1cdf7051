# ufw enabled with "default deny incoming" (iptables-nft, IPv4 and IPv6) (pass).
UFW_POLICY=DROP UFW_RESTORE=iptables-nft-restore . "$SCENARIO_DIR/ufw-chains.inc"
ip6tables-nft -P INPUT DROP
ip6tables-nft -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
ip6tables-nft -A INPUT -i lo -j ACCEPT
