# ufw's chains in iptables-legacy with INPUT policy DROP, IPv6 with a final reject rule (pass).
UFW_POLICY=DROP UFW_RESTORE=iptables-legacy-restore . "$SCENARIO_DIR/ufw-chains.inc"
ip6tables-legacy -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
ip6tables-legacy -A INPUT -j REJECT
