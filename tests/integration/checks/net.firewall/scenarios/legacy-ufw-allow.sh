# ufw's chains in iptables-legacy with INPUT policy ACCEPT; IPv6 dropped by ip6tables-legacy
# (fail for IPv4).
UFW_POLICY=ACCEPT UFW_RESTORE=iptables-legacy-restore . "$SCENARIO_DIR/ufw-chains.inc"
ip6tables-legacy -P INPUT DROP
