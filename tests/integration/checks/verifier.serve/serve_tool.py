#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Clients for the verifier.serve integration tests (python3 standard library only).

  slow PORT SECONDS            one byte per second; prints how long until the server cut it
  flood PORT N                 N concurrent connections, each GET /healthz; prints the 200s
  idle PORT N SECONDS          open N connections that send nothing; prints how many the
                               server has closed after SECONDS
  metrics FILE                 check FILE is Prometheus text exposition format 0.0.4
  sigterm BINARY CONFIG PORT   start the server with NOTIFY_SOCKET, SIGTERM it while a
                               request is under way; check READY=1, STOPPING=1, the answer
                               and the exit within 2 s
  escape FILE                  URL-escape FILE as nginx $ssl_client_escaped_cert does
  b64der FILE                  base64 of the DER of the PEM certificate in FILE (Traefik)
"""

import asyncio
import base64
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def slow(port, limit):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(1.0)
    start = time.monotonic()
    data = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    for i in range(len(data)):
        try:
            s.send(data[i:i + 1])
        except OSError:
            break
        try:
            got = s.recv(4096)
            if not got:
                break
        except socket.timeout:
            pass
        except OSError:
            break
        if time.monotonic() - start > limit:
            fail("the slow client was not cut after %.1f s" % (time.monotonic() - start))
    print("%.1f" % (time.monotonic() - start))


async def one(port, results):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 60)
        writer.close()
        if data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"ok\n"):
            results.append(None)
        else:
            results.append("answer %r" % data[:40])
    except (OSError, asyncio.TimeoutError) as e:
        results.append(type(e).__name__ + (" " + e.strerror if getattr(e, "strerror", None) else ""))


async def flood_all(port, n):
    results = []
    await asyncio.gather(*(one(port, results) for _ in range(n)))
    return results


def flood(port, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 64:
        print("SKIP: RLIMIT_NOFILE hard limit %d < %d" % (hard, n + 64))
        sys.exit(77)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = asyncio.run(flood_all(port, n))
    print(sum(1 for r in results if r is None))
    # what the others got, on stderr, so that a failure says why
    reasons = {}
    for r in results:
        if r is not None:
            reasons[r] = reasons.get(r, 0) + 1
    for r, k in sorted(reasons.items(), key=lambda x: -x[1]):
        print("  %d x %s" % (k, r), file=sys.stderr)


def idle(port, n, seconds):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 64:
        print("SKIP: RLIMIT_NOFILE hard limit %d < %d" % (hard, n + 64))
        sys.exit(77)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        socks.append(s)
    time.sleep(seconds)
    closed = 0
    for s in socks:
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(closed, len(socks))


SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? '
    r'(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|[+-]Inf|NaN)$')


def metrics(path):
    text = open(path, encoding="utf-8").read()
    if not text.endswith("\n"):
        fail("metrics text does not end with a newline")
    types, helps, buckets = {}, set(), {}
    counts = {}
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or parts[2] in helps:
                fail("line %d: bad or repeated HELP: %s" % (n, line))
            helps.add(parts[2])
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary",
                                                   "untyped") or parts[2] in types:
                fail("line %d: bad or repeated TYPE: %s" % (n, line))
            types[parts[2]] = parts[3]
            continue
        if line.startswith("#") or not line:
            fail("line %d: unexpected: %r" % (n, line))
        m = SAMPLE.match(line)
        if not m:
            fail("line %d: not a sample: %r" % (n, line))
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and base not in types:
            fail("line %d: sample before its TYPE: %s" % (n, line))
        value = float(m.group(5))
        if types.get(name) == "counter" and value < 0:
            fail("line %d: negative counter" % n)
        if name.endswith("_bucket"):
            le = re.search(r'le="([^"]*)"', line).group(1)
            prev = buckets.setdefault(base, [])
            if prev and value < prev[-1][1]:
                fail("line %d: histogram buckets not cumulative" % n)
            prev.append((le, value))
        if name.endswith("_count"):
            counts[base] = value
    for base, b in buckets.items():
        if b[-1][0] != "+Inf":
            fail("%s: no +Inf bucket" % base)
        if counts.get(base) != b[-1][1]:
            fail("%s: _count differs from the +Inf bucket" % base)
    print("ok %d metrics" % len(types))


def proc_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def sigterm(binary, config, port):
    d = tempfile.mkdtemp()
    path = os.path.join(d, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(path)
    ns.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    p = subprocess.Popen([binary, "serve", "--config", config], env=env)
    try:
        msg = ns.recv(4096)
        if b"READY=1" not in msg:
            fail("first notification: %r" % msg)
        # a request under way: its headers are in, its body is not complete
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /v1/identity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Length: 10\r\n\r\n12345")
        time.sleep(0.3)
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)
        ns.settimeout(2)
        msg = ns.recv(4096)
        if b"STOPPING=1" not in msg:
            fail("notification after SIGTERM: %r" % msg)
        # no new connections
        time.sleep(0.2)
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=1)
            c.close()
            fail("a new connection was accepted after SIGTERM")
        except OSError:
            pass
        s.sendall(b"67890")
        s.settimeout(5)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 401 "):
            fail("the request under way got %r" % data[:200])
        m = re.search(rb"\r\nContent-Length: (\d+)", head)
        if not m or int(m.group(1)) != len(body):
            fail("truncated answer: %r" % data)
        rc = p.wait(timeout=5)
        took = time.monotonic() - start
        if took > 2.0:
            fail("SIGTERM took %.2f s" % took)
        if rc != 0:
            fail("exit status %d" % rc)
        print("stopped in %.2f s" % took)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ns.close()
        os.unlink(path)
        os.rmdir(d)


def main():
    cmd = sys.argv[1]
    if cmd == "slow":
        slow(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "flood":
        flood(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "metrics":
        metrics(sys.argv[2])
    elif cmd == "sigterm":
        sigterm(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "escape":
        print(urllib.parse.quote(open(sys.argv[2]).read(), safe=""))
    elif cmd == "b64der":
        pem = open(sys.argv[2]).read()
        b64 = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
        print(base64.b64encode(base64.b64decode(b64)).decode())
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
