# iptables-legacy INPUT policy DROP for IPv4 and IPv6, nothing in nftables (pass).
iptables-legacy -P INPUT DROP
iptables-legacy -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables-legacy -A INPUT -i lo -j ACCEPT
iptables-legacy -A INPUT -p tcp --dport 22 -m comment --comment "ssh in" -j ACCEPT
ip6tables-legacy -P INPUT DROP
ip6tables-legacy -A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
