#!/usr/bin/python3
"""A small HTTPS test server (standard library only) standing in for the verifier in client
tests: an independent TLS and HTTP implementation.

    https_server.py CERT KEY [CLIENT_CA]

Listens on 127.0.0.1, an ephemeral port printed as the first line of stdout. With CLIENT_CA,
a client certificate signed by it is required. Paths:
    /echo            200, echoes the request body with the request's Content-Type
    /whoami          200, text: the client certificate's subject CN, or "-"
    /status/N        status N, JSON problem body; ?retry=V adds "Retry-After: V"
    /html            200 text/html (a captive portal)
    /big             200 with 300 KiB of body
    /stall           sleeps 10 s before answering
    /redirect        302 to /echo
Runs until killed.
"""
import http.server
import ssl
import sys
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/echo":
            self.reply(200, body, self.headers.get("Content-Type") or "application/octet-stream")
        elif url.path == "/whoami":
            cert = self.connection.getpeercert()
            cn = "-"
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
            self.reply(200, cn.encode(), "text/plain")
        elif url.path.startswith("/status/"):
            extra = [("Retry-After", q["retry"][0])] if "retry" in q else []
            self.reply(int(url.path[8:]), b'{"title":"test"}', "application/problem+json", extra)
        elif url.path == "/html":
            self.reply(200, b"<html>Please log in</html>", "text/html; charset=utf-8")
        elif url.path == "/big":
            self.reply(200, b"x" * (300 * 1024), "text/plain")
        elif url.path == "/stall":
            time.sleep(10)
            self.reply(200, b"late", "text/plain")
        elif url.path == "/redirect":
            self.reply(302, b"", "text/plain", [("Location", "/echo")])
        else:
            self.reply(404, b"{}")

    do_GET = do_POST = do_HEAD = handle_any


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    if len(sys.argv) > 3:
        ctx.load_verify_locations(sys.argv[3])
        ctx.verify_mode = ssl.CERT_REQUIRED
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
