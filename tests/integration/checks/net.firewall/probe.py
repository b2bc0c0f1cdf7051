# Independent oracle for net.firewall: is new inbound traffic to an open port accepted?
#   python3 probe.py listen PORT DIR     listen on TCP and UDP PORT, IPv4 and IPv6 (where
#                                        possible); touch DIR/ready, then record each UDP
#                                        datagram's family as DIR/udp4 or DIR/udp6; until killed.
#                                        (TCP handshakes complete into the backlog: no accept().)
#   python3 probe.py tcp ADDR PORT       print "accepted" when a connection is made, else
#                                        "denied" (timeout, refused, unreachable)
#   python3 probe.py udp ADDR PORT       send one datagram (the listener records its arrival)
import os
import select
import socket
import sys

mode = sys.argv[1]
if mode == "listen":
    port, out = int(sys.argv[2]), sys.argv[3]
    udp = {}
    for fam, addr, tag in ((socket.AF_INET, "0.0.0.0", "udp4"), (socket.AF_INET6, "::", "udp6")):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            try:
                s = socket.socket(fam, kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((addr, port))
                if kind == socket.SOCK_STREAM:
                    s.listen(64)
                    udp.setdefault("tcp", []).append(s)  # keep it open
                else:
                    udp[s] = tag
            except OSError:
                pass  # no IPv6 in this namespace
    open(os.path.join(out, "ready"), "w").close()
    socks = [s for s in udp if not isinstance(s, str)]
    while True:
        readable, _, _ = select.select(socks, [], [], 60)
        for s in readable:
            s.recvfrom(2048)
            open(os.path.join(out, udp[s]), "w").close()
else:
    addr, port = sys.argv[2], int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if mode == "udp":
        try:
            socket.socket(fam, socket.SOCK_DGRAM).sendto(b"probe", (addr, port))
        except OSError:
            pass
        sys.exit(0)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(0.7)
    try:
        s.connect((addr, port))
        print("accepted")
    except OSError:
        print("denied")
