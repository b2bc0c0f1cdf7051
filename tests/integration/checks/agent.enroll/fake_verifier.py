# SPDX-License-Identifier: Apache-2.0
"""A scripted stand-in for posture-verifier's agent API, for retry.sh: answers that the real
verifier cannot be made to give on demand.

    fake_verifier.py MODE CERT KEY PORTFILE LOGFILE

MODE fresh: /v1/posture answers 400 use_fresh_nonce (with a new nonce) once, then 201;
     fresh-always: every /v1/posture is 400 use_fresh_nonce;
     fresh-nononce: 400 use_fresh_nonce without a nonce once (a new challenge is needed), then 201;
     portal: every answer is a captive portal's 200 text/html.
Every request is logged as "PATH eat_nonce" (the nonce of the report, "-" for others).
"""
import base64
import http.server
import json
import ssl
import sys

mode, cert, key, portfile, logfile = sys.argv[1:6]
state = {"challenges": 0, "posts": 0}


def b64(n):
    return base64.urlsafe_b64encode(n).rstrip(b"=").decode()


def report_nonce(body):
    try:
        jws = json.loads(body)["report"]
        payload = jws.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload)).get("eat_nonce", "-")
    except Exception:  # noqa: BLE001 - logged as unreadable
        return "unreadable"


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status, ctype, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        nonce = report_nonce(body) if self.path == "/v1/posture" else "-"
        with open(logfile, "a") as f:
            f.write("%s %s\n" % (self.path, nonce))
        if mode == "portal":
            return self.send(200, "text/html", "<html><body>Please log in</body></html>")
        if self.path == "/v1/challenge":
            state["challenges"] += 1
            return self.send(200, "application/json", json.dumps(
                {"nonce": b64(b"challenge-%02d-nonce-0123456789" % state["challenges"]),
                 "expires_in": 120}))
        if self.path != "/v1/posture":
            return self.send(404, "application/problem+json", '{"type":"x","title":"no"}')
        state["posts"] += 1
        if mode == "fresh-always" or (mode.startswith("fresh") and state["posts"] == 1):
            problem = {"type": "urn:posture:problem:use_fresh_nonce", "title": "Use a fresh nonce",
                       "status": 400, "error": "use_fresh_nonce"}
            if mode != "fresh-nononce":
                problem["nonce"] = b64(b"fresh-nonce-%02d-0123456789abcd" % state["posts"])
            return self.send(400, "application/problem+json", json.dumps(problem))
        return self.send(201, "application/json", json.dumps(
            {"ear": "e30.e30.c2ln", "status": "affirming", "policy": "fake@1", "allow": True,
             "failed_checks": [], "remediation": "", "seq": 1}))


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
