# iptables-nft with INPUT policy DROP but "-p tcp -m conntrack --ctstate NEW -j ACCEPT": the
# conntrack match is opaque in nft's JSON, so the check reads iptables-nft-save (fail for IPv4).
iptables-nft -P INPUT DROP
iptables-nft -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables-nft -A INPUT -p tcp -m conntrack --ctstate NEW -j ACCEPT
ip6tables-nft -P INPUT DROP
ip6tables-nft -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
ip6tables-nft -A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT
